// Browser tests of the web UI: headless Debian Chromium driven by playwright-core against
// the real daemon (started here on a free port with a temp base directory and the
// synthetic SD1.5 checkpoint). Screenshots go to $BUILD/screenshots (kept as CI artifacts).
// Prints "N passed, N failed".

import { chromium } from '../../ui/node_modules/playwright-core/index.mjs'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..')
const BUILD = path.resolve(ROOT, process.env.BUILD || 'build')
const SHARED = path.resolve(process.env.SHARED || path.join(ROOT, '..', 'shared'))
const SHOTS = path.join(BUILD, 'screenshots')
const CKPT = path.join(BUILD, 'sd15-synth.safetensors')

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)) })
  })
}

async function startDaemon() {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), 'ci-ui-'))
  fs.mkdirSync(path.join(base, 'models', 'checkpoints'), { recursive: true })
  fs.symlinkSync(CKPT, path.join(base, 'models', 'checkpoints', 'sd15-synth.safetensors'))
  const port = await freePort()
  const proc = spawn(path.join(BUILD, 'comfyui-ipex'), [
    '--port', String(port), '--base-directory', base, '--front-end-root', path.join(ROOT, 'ui', 'dist'),
    '--tokenizer-dir', path.join(SHARED, 'tokenizer', 'sd1'), '--preview-method', 'latent2rgb',
  ], { stdio: ['ignore', 'inherit', 'inherit'] })
  const url = `http://127.0.0.1:${port}/`
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(url + 'api/system_stats')).ok) return { proc, url, base } } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100))
  }
  proc.kill('SIGKILL')
  throw new Error('daemon did not start')
}

const results = []
let booted = false
async function test(name, fn) {
  // Without a booted page every later test would only wait out its timeout.
  if (results.length > 0 && !booted) {
    results.push([name, new Error('skipped: the page did not boot')])
    console.log(`not ok - ${name}: the page did not boot`)
    return
  }
  try {
    await fn()
    results.push([name, null])
    console.log(`ok - ${name}`)
  } catch (err) {
    results.push([name, err])
    console.log(`not ok - ${name}: ${err.stack || err}`)
  }
}

function assert(cond, msg) { if (!cond) throw new Error(msg) }

async function waitFor(page, fn, arg, timeout = 120000) {
  return page.waitForFunction(fn, arg, { timeout, polling: 200 })
}

const daemon = await startDaemon()
fs.mkdirSync(SHOTS, { recursive: true })
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
})
const page = await browser.newPage({ viewport: { width: 1600, height: 900 } })
const consoleErrors = []
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()) })
page.on('pageerror', (e) => consoleErrors.push(String(e)))

// Make the default graph cheap: 64x64, 2 steps.
async function shrinkGraph() {
  await page.evaluate(() => {
    const g = window.app.graph
    const set = (cls, name, v) => { for (const n of g._nodes) if (n.comfyClass === cls) n.widgets.find((w) => w.name === name).value = v }
    set('EmptyLatentImage', 'width', 64)
    set('EmptyLatentImage', 'height', 64)
    set('KSampler', 'steps', 2)
    set('KSampler', 'control_after_generate', 'fixed')
    set('CheckpointLoaderSimple', 'ckpt_name', 'sd15-synth.safetensors')
  })
}

try {
  await test('page loads without console errors and shows the default graph', async () => {
    await page.goto(daemon.url)
    await waitFor(page, () => document.body.dataset.ready === '1', null, 30000)
    await waitFor(page, () => document.getElementById('conn-state').textContent === 'connected', null, 10000)
    const types = await page.evaluate(() => window.app.graph._nodes.map((n) => n.comfyClass).sort())
    assert(JSON.stringify(types) === JSON.stringify(['CLIPTextEncode', 'CLIPTextEncode', 'CheckpointLoaderSimple',
      'EmptyLatentImage', 'KSampler', 'SaveImage', 'VAEDecode']), `default graph has ${types}`)
    const links = await page.evaluate(() => window.app.graph.links.size)
    assert(links === 9, `default graph has ${links} links`)
    booted = true
    await page.screenshot({ path: path.join(SHOTS, '01-default-graph.png') })
    assert(consoleErrors.length === 0, `console errors: ${consoleErrors.join(' | ')}`)
  })

  await test('the synthetic checkpoint is announced as noise by design', async () => {
    await shrinkGraph()
    await page.evaluate(() => window.app.graph.setDirtyCanvas(true, true))
    await page.click('#default-btn')
    await shrinkGraph()
    await waitFor(page, () => /noise by design/.test(document.getElementById('banner').textContent), null, 10000)
  })

  await test('Queue runs txt2img: progress, then the image in the node and the gallery', async () => {
    await page.click('#queue-btn')
    await waitFor(page, () => /\d+\/2/.test(document.getElementById('progress-text').textContent)
      || document.querySelectorAll('#gallery img').length > 0, null, 300000)
    await waitFor(page, () => document.querySelectorAll('#gallery img').length > 0 && document.querySelector('#gallery img').complete
      && document.querySelector('#gallery img').naturalWidth === 64, null, 300000)
    const saved = await page.evaluate(() => window.app.graph._nodes.find((n) => n.comfyClass === 'SaveImage').imgs?.length)
    assert(saved === 1, 'SaveImage node shows no image')
    await page.screenshot({ path: path.join(SHOTS, '02-after-queue.png') })
  })

  await test('a saved PNG dropped on the page restores its workflow', async () => {
    const src = await page.evaluate(() => document.querySelector('#gallery img').src)
    const png = Buffer.from(await (await fetch(src)).arrayBuffer())
    await page.evaluate(() => window.app.graph.clear())
    await page.evaluate(async (b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))
      const dt = new DataTransfer()
      dt.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }))
      window.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, clientX: 5, clientY: 5, bubbles: true, cancelable: true }))
    }, png.toString('base64'))
    await waitFor(page, () => window.app.graph._nodes.length === 7, null, 10000)
    const w = await page.evaluate(() => window.app.graph._nodes.find((n) => n.comfyClass === 'EmptyLatentImage').widgets[0].value)
    assert(w === 64, `restored width ${w}`)
  })

  await test('a validation error highlights the node and says why', async () => {
    await page.evaluate(() => {
      const g = window.app.graph
      const ks = g._nodes.find((n) => n.comfyClass === 'KSampler')
      ks.disconnectInput(ks.inputs.findIndex((i) => i.name === 'model'))
    })
    await page.click('#queue-btn')
    await waitFor(page, () => !document.getElementById('error-box').hidden, null, 10000)
    const text = await page.textContent('#error-box')
    assert(/Required input is missing/.test(text) && /model/.test(text), `error box says: ${text}`)
    const flagged = await page.evaluate(() => window.app.graph._nodes.find((n) => n.comfyClass === 'KSampler').has_errors)
    assert(flagged === true, 'KSampler not highlighted')
    await page.screenshot({ path: path.join(SHOTS, '03-validation-error.png') })
  })
} finally {
  await browser.close()
  daemon.proc.kill('SIGTERM')
}

const failed = results.filter(([, e]) => e).length
console.log(`${results.length - failed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
