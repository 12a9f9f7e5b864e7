// comfyui_client.mjs -- @stable-canvas/comfyui-client (npm) against the daemon, as a
// third-party app would use it: REST calls without /api, a WebSocket for events,
// enqueue() waiting for completion, then the image fetched through its /view URL.
// Usage: node comfyui_client.mjs HOST:PORT INPUT_IMAGE_NAME. Exits non-zero on failure.
import { Client } from '@stable-canvas/comfyui-client'
import WebSocket from 'ws'
import assert from 'node:assert/strict'

const [host, image] = process.argv.slice(2)
const client = new Client({ api_host: host, WebSocket, fetch, clientId: 'npm-client-test' })

const step = (s) => console.log(`step: ${s}`)
step('system_stats')
const stats = await client.getSystemStats()
assert.equal(stats.system.os, 'linux')
assert.ok(Array.isArray(stats.devices) && stats.devices.length > 0)
const defs = await client.getNodeDefs()
assert.ok(defs.SaveImage && defs.LoadImage)
assert.deepEqual(await client.getEmbeddings(), [])
assert.deepEqual(await client.getExtensions(), [])

step('connect')
await client.connect()
step('enqueue')
const events = []
const prompt = {
  1: { class_type: 'LoadImage', inputs: { image } },
  2: { class_type: 'ImageInvert', inputs: { image: ['1', 0] } },
  3: { class_type: 'SaveImage', inputs: { images: ['2', 0], filename_prefix: 'npm/client' } },
}
const out = await client.enqueue(prompt, { progress: (p) => events.push(p) })
assert.equal(out.images.length, 1)
const url = out.images[0].data
assert.match(url, /\/view\?filename=client_00001_\.png&subfolder=npm&type=output$/)
step('view')
const res = await fetch(url)
assert.equal(res.status, 200)
assert.equal(res.headers.get('content-type'), 'image/png')
const png = new Uint8Array(await res.arrayBuffer())
assert.deepEqual([...png.slice(1, 4)], [0x50, 0x4e, 0x47])

step('queue')
const queue = await client.getQueue()
assert.deepEqual(queue, { Running: [], Pending: [] })
const { History } = await client.getHistory(10)
assert.ok(History.some((h) => h.prompt[1] === out.prompt_id), 'history has the prompt')
assert.equal(History.find((h) => h.prompt[1] === out.prompt_id).status.status_str, 'success')
await client.free({ unload_models: true })
await client.interrupt()
client.close()
console.log('npm client: ok')
