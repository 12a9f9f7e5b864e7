// main.js -- the comfyui-ipex web UI: a litegraph editor wired to ComfyUI's API.
//
// Boot: node types from /object_info, the last workflow from localStorage (else ComfyUI's
// default txt2img graph), then the WebSocket. The WebSocket drives everything live: queue
// size, the running node's outline, per-step progress, previews, outputs into the node and
// the gallery, errors onto the node that raised them. Panels re-read /queue and /history
// whenever the server says the queue changed.

import { LGraph, LGraphCanvas } from '@comfyorg/litegraph'
import '@comfyorg/litegraph/style.css'
import './style.css'
import { Api } from './api.js'
import { registerNodeTypes, applyControlWidgets } from './nodes.js'
import { graphToPrompt, promptToGraph } from './prompt.js'
import { pngTextChunks } from './png.js'
import { loadDefaultGraph } from './default-graph.js'

const $ = (id) => document.getElementById(id)
const api = new Api()
const graph = new LGraph()
const canvasEl = $('graph-canvas')
const canvas = new LGraphCanvas(canvasEl, graph)
const state = { running: null, errorNodes: new Set() }
window.app = { api, graph, canvas, state }

// ---- layout ------------------------------------------------------------------------------

function resizeCanvas() {
  const box = canvasEl.parentElement.getBoundingClientRect()
  canvasEl.width = Math.max(box.width - $('sidebar').offsetWidth, 200)
  canvasEl.height = Math.max(box.height, 200)
  canvas.setDirty(true, true)
}

function banner(text, kind = 'info') {
  const b = $('banner')
  b.hidden = !text
  b.textContent = text || ''
  b.className = kind
}

function showError(text) {
  const box = $('error-box')
  box.hidden = !text
  box.textContent = text || ''
}

// ---- workflows -----------------------------------------------------------------------------

function saveLocal() {
  try { localStorage.setItem('ci-workflow', JSON.stringify(graph.serialize())) } catch { /* quota: keep going */ }
}

function loadWorkflowJson(data) {
  if (data && Array.isArray(data.nodes)) {
    graph.configure(data)
  } else if (data && typeof data === 'object' && Object.values(data).every((n) => n?.class_type)) {
    promptToGraph(graph, data)
  } else {
    throw new Error('this file holds neither a workflow nor an API-format prompt')
  }
  clearErrors()
  canvas.setDirty(true, true)
  saveLocal()
  checkCheckpoint()
}

async function loadFile(file) {
  const buf = await file.arrayBuffer()
  if (file.type === 'image/png' || file.name.toLowerCase().endsWith('.png')) {
    const chunks = pngTextChunks(buf)
    if (chunks.workflow) return loadWorkflowJson(JSON.parse(chunks.workflow))
    if (chunks.prompt) return loadWorkflowJson(JSON.parse(chunks.prompt))
    throw new Error(`${file.name} carries no workflow`)
  }
  return loadWorkflowJson(JSON.parse(new TextDecoder().decode(buf)))
}

function download(name, obj) {
  const a = document.createElement('a')
  a.href = URL.createObjectURL(new Blob([JSON.stringify(obj, null, 2)], { type: 'application/json' }))
  a.download = name
  a.click()
  setTimeout(() => URL.revokeObjectURL(a.href), 1000)
}

// A checkpoint made by synth-ckpt has deterministic noise for weights: say so, loudly.
async function checkCheckpoint() {
  const loader = graph._nodes.find((n) => n.comfyClass === 'CheckpointLoaderSimple')
  const name = loader?.widgets?.find((w) => w.name === 'ckpt_name')?.value
  if (!name) return banner('')
  try {
    const meta = await api.viewMetadata('checkpoints', name)
    if (meta?.synthetic) {
      return banner(`${name} is a synthetic checkpoint (${meta.synthetic}): its pictures are noise by design.`, 'warn')
    }
  } catch { /* no metadata: a real checkpoint */ }
  banner('')
}

// ---- queueing and errors ---------------------------------------------------------------------

function clearErrors() {
  for (const id of state.errorNodes) {
    const n = graph.getNodeById(id)
    if (n) { n.has_errors = false; n.boxcolor = undefined; n.color = undefined }
  }
  state.errorNodes.clear()
  showError('')
}

function markNodeError(id, lines) {
  const node = graph.getNodeById(Number(id)) || graph.getNodeById(id)
  if (!node) return
  node.has_errors = true
  node.color = '#c33'
  node.boxcolor = '#f33'
  state.errorNodes.add(node.id)
  node.title_error = lines.join('\n')
}

async function queue(front) {
  clearErrors()
  const count = Math.max(1, Math.min(100, parseInt($('batch-count').value, 10) || 1))
  for (let i = 0; i < count; i++) {
    const prompt = graphToPrompt(graph)
    try {
      await api.queuePrompt(prompt, graph.serialize(), front)
    } catch (err) {
      const body = err.body || {}
      const lines = [body.error?.message || err.message]
      if (body.error?.details) lines.push(body.error.details)
      for (const [id, ne] of Object.entries(body.node_errors || {})) {
        const msgs = ne.errors.map((e) => `${e.message}: ${e.details || ''}`.trim())
        markNodeError(id, msgs)
        lines.push(`#${id} ${ne.class_type}: ${msgs.join('; ')}`)
      }
      showError(lines.join('\n'))
      canvas.setDirty(true, true)
      return
    }
    applyControlWidgets(graph)
  }
  canvas.setDirty(true, true)
}

// ---- panels ------------------------------------------------------------------------------

function li(text, buttons = []) {
  const el = document.createElement('li')
  const span = document.createElement('span')
  span.textContent = text
  el.append(span)
  for (const [label, fn] of buttons) {
    const b = document.createElement('button')
    b.textContent = label
    b.onclick = fn
    el.append(b)
  }
  return el
}

async function refreshQueue() {
  try {
    const q = await api.queue()
    const list = $('queue-list')
    list.replaceChildren(
      ...q.queue_running.map((item) => li(`running ${item[1].slice(0, 8)}`, [['stop', () => api.interrupt()]])),
      ...q.queue_pending.map((item) => li(`#${item[0]} ${item[1].slice(0, 8)}`, [['cancel', async () => { await api.deleteQueued([item[1]]); refreshQueue() }]])),
    )
  } catch (err) { console.warn('queue:', err.message) }
}

async function refreshHistory() {
  try {
    const h = await api.history(20)
    const list = $('history-list')
    const items = Object.entries(h).reverse().map(([id, entry]) => {
      const images = Object.values(entry.outputs || {}).flatMap((o) => o.images || [])
      const el = li(`${entry.status?.status_str || '?'} ${id.slice(0, 8)} (${images.length} img)`,
        [['delete', async () => { await api.deleteHistory([id]); refreshHistory() }]])
      for (const img of images.slice(0, 4)) {
        const t = document.createElement('img')
        t.src = api.viewUrl(img)
        t.className = 'thumb'
        el.append(t)
      }
      return el
    })
    list.replaceChildren(...items)
  } catch (err) { console.warn('history:', err.message) }
}

function addToGallery(img) {
  const el = document.createElement('img')
  el.src = api.viewUrl(img)
  el.title = img.filename
  el.className = 'gallery-item'
  $('gallery').prepend(el)
}

function nodeImages(node, urls) {
  node.imgs = urls.map((u) => {
    const im = new Image()
    im.onload = () => canvas.setDirty(true, false)
    im.src = u
    return im
  })
  if (node.size[1] < 320) node.setSize([node.size[0], 320])
}

function setProgress(value, max, text) {
  $('progress-bar').style.width = max ? `${(100 * value) / max}%` : '0%'
  $('progress-text').textContent = text
}

// ---- live events ---------------------------------------------------------------------------

function nodeOf(detail) {
  const id = detail?.display_node ?? detail?.node ?? detail?.node_id
  return id == null ? null : graph.getNodeById(Number(id)) ?? graph.getNodeById(id)
}

api.addEventListener('connected', () => {
  $('conn-state').textContent = 'connected'
  $('conn-state').className = 'conn ok'
  refreshQueue()
  refreshHistory()
})
api.addEventListener('disconnected', () => {
  $('conn-state').textContent = 'reconnecting'
  $('conn-state').className = 'conn bad'
})
api.addEventListener('status', (e) => {
  $('queue-size').textContent = `queue: ${e.detail?.status?.exec_info?.queue_remaining ?? 0}`
  refreshQueue()
})
api.addEventListener('execution_start', () => {
  setProgress(0, 0, 'started')
  showError('')
})
api.addEventListener('executing', (e) => {
  const node = nodeOf(e.detail)
  state.running = node
  canvas.current_node = node
  graph.setDirtyCanvas(true, false)
  if (e.detail?.node == null) {
    setProgress(0, 0, 'idle')
    refreshHistory()
  } else if (node) {
    setProgress(0, 0, `running ${node.title}`)
  }
})
api.addEventListener('progress', (e) => {
  const { value, max } = e.detail
  const node = nodeOf(e.detail)
  setProgress(value, max, `${node?.title || e.detail.node}: ${value}/${max}`)
  if (node) { node.progress = value / max; graph.setDirtyCanvas(true, false) }
})
api.addEventListener('executed', (e) => {
  const node = nodeOf(e.detail)
  const images = e.detail?.output?.images || []
  if (node && images.length) nodeImages(node, images.map((img) => api.viewUrl(img)))
  images.filter((img) => img.type === 'output').forEach(addToGallery)
})
api.addEventListener('b_preview', (e) => {
  if (state.running) nodeImages(state.running, [URL.createObjectURL(e.detail)])
})
api.addEventListener('execution_error', (e) => {
  const d = e.detail
  markNodeError(d.node_id, [d.exception_message])
  showError(`${d.node_type} (#${d.node_id}) failed: ${d.exception_type}: ${d.exception_message}`)
  setProgress(0, 0, 'error')
  canvas.setDirty(true, true)
})
api.addEventListener('execution_interrupted', () => setProgress(0, 0, 'interrupted'))
api.addEventListener('execution_success', () => setProgress(1, 1, 'done'))

// ---- wiring --------------------------------------------------------------------------------

function bindUi() {
  $('queue-btn').onclick = () => queue(false)
  $('queue-front-btn').onclick = () => queue(true)
  $('interrupt-btn').onclick = () => api.interrupt()
  $('save-btn').onclick = () => download('workflow.json', graph.serialize())
  $('export-api-btn').onclick = () => download('workflow_api.json', graphToPrompt(graph))
  $('default-btn').onclick = () => { loadDefaultGraph(graph); saveLocal(); checkCheckpoint() }
  $('load-btn').onclick = () => $('load-file').click()
  $('load-file').onchange = (e) => e.target.files[0] && loadFile(e.target.files[0]).catch((err) => showError(err.message))
  window.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) queue(e.shiftKey)
  })
  window.addEventListener('dragover', (e) => e.preventDefault())
  window.addEventListener('drop', (e) => {
    e.preventDefault()
    const file = e.dataTransfer?.files?.[0]
    if (!file) return
    const node = graph.getNodeOnPos(...canvas.convertEventToCanvasOffset(e))
    const combo = node?.widgets?.find((w) => w.name === 'image' && w.type === 'combo')
    // An image dropped on a LoadImage-like node is an upload; anywhere else it is a workflow.
    if (combo && file.type.startsWith('image/')) {
      node.uploadFile(file, combo).catch((err) => showError(err.message))
    } else {
      loadFile(file).catch((err) => showError(err.message))
    }
  })
  window.addEventListener('resize', resizeCanvas)
  setInterval(saveLocal, 5000)
}

async function upload(node, file, combo) {
  const res = await api.uploadImage(file)
  const name = res.subfolder ? `${res.subfolder}/${res.name}` : res.name
  if (!combo.options.values.includes(name)) combo.options.values.push(name)
  combo.value = name
  nodeImages(node, [api.viewUrl({ filename: res.name, subfolder: res.subfolder, type: 'input' })])
  canvas.setDirty(true, true)
}

async function boot() {
  bindUi()
  resizeCanvas()
  const defs = await api.objectInfo()
  registerNodeTypes(defs, { upload })
  const saved = localStorage.getItem('ci-workflow')
  try {
    if (saved) loadWorkflowJson(JSON.parse(saved))
    else loadDefaultGraph(graph)
  } catch (err) {
    console.warn('saved workflow unusable, opening the default:', err.message)
    loadDefaultGraph(graph)
  }
  checkCheckpoint()
  canvas.setDirty(true, true)
  api.connect()
  document.body.dataset.ready = '1'
}

boot().catch((err) => {
  banner(`could not start: ${err.message}`, 'warn')
  console.warn(err)
})
