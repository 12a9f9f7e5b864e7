// api.js -- the daemon's ComfyUI API as the UI uses it: JSON routes under /api and one
// WebSocket that reconnects by itself.
//
// Events arrive as {type, data} JSON messages and as binary preview frames; both are
// re-dispatched as DOM CustomEvents on the returned client, so panels subscribe with
// api.addEventListener('progress', ...). The client id survives reloads (sessionStorage)
// so a reconnecting page keeps receiving the events of the prompts it queued.

const BASE = new URL('.', window.location.href)

function url(path) {
  return new URL(path.replace(/^\//, ''), BASE).toString()
}

export class Api extends EventTarget {
  constructor() {
    super()
    this.clientId = sessionStorage.getItem('ci-client-id') || crypto.randomUUID().replace(/-/g, '')
    sessionStorage.setItem('ci-client-id', this.clientId)
    this.socket = null
    this.retryMs = 500
  }

  async json(path, opts = {}) {
    const res = await fetch(url(path), opts)
    const text = await res.text()
    let body = null
    try { body = text ? JSON.parse(text) : null } catch { body = { error: { message: text } } }
    if (!res.ok) {
      const err = new Error(body?.error?.message || `${res.status} ${res.statusText}`)
      err.status = res.status
      err.body = body
      throw err
    }
    return body
  }

  post(path, body) {
    return this.json(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) })
  }

  objectInfo() { return this.json('api/object_info') }
  queue() { return this.json('api/queue') }
  history(max = 50) { return this.json(`api/history?max_items=${max}`) }
  interrupt() { return this.post('api/interrupt', {}) }
  deleteQueued(ids) { return this.post('api/queue', { delete: ids }) }
  deleteHistory(ids) { return this.post('api/history', { delete: ids }) }
  viewMetadata(folder, filename) { return this.json(`api/view_metadata/${folder}?filename=${encodeURIComponent(filename)}`) }

  queuePrompt(prompt, workflow, front) {
    const body = { client_id: this.clientId, prompt, extra_data: { extra_pnginfo: { workflow } } }
    if (front) body.front = true
    return this.post('api/prompt', body)
  }

  async uploadImage(file, subfolder = '') {
    const form = new FormData()
    form.append('image', file, file.name)
    form.append('overwrite', 'true')
    if (subfolder) form.append('subfolder', subfolder)
    const res = await fetch(url('api/upload/image'), { method: 'POST', body: form })
    if (!res.ok) throw new Error(`upload failed: ${res.status} ${await res.text()}`)
    return res.json()
  }

  viewUrl(img) {
    const q = new URLSearchParams({ filename: img.filename, subfolder: img.subfolder || '', type: img.type || 'output' })
    return url(`api/view?${q}`)
  }

  connect() {
    const wsUrl = url(`ws?clientId=${this.clientId}`).replace(/^http/, 'ws')
    const ws = new WebSocket(wsUrl)
    ws.binaryType = 'arraybuffer'
    this.socket = ws
    ws.onopen = () => {
      this.retryMs = 500
      ws.send(JSON.stringify({ type: 'feature_flags', data: { supports_preview_metadata: false } }))
      this.emit('connected', null)
    }
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return this.onBinary(ev.data)
      let msg
      try { msg = JSON.parse(ev.data) } catch { return }
      if (msg.type === 'status' && msg.data?.sid) {
        this.clientId = msg.data.sid
        sessionStorage.setItem('ci-client-id', this.clientId)
      }
      this.emit(msg.type, msg.data)
    }
    ws.onclose = () => {
      if (this.socket !== ws) return
      this.emit('disconnected', null)
      setTimeout(() => this.connect(), this.retryMs)
      this.retryMs = Math.min(this.retryMs * 2, 8000)
    }
  }

  // Binary frame: u32 event type (1 = preview image), u32 image format (1 jpeg, 2 png), bytes.
  onBinary(buf) {
    const view = new DataView(buf)
    if (buf.byteLength < 8 || view.getUint32(0) !== 1) return
    const mime = view.getUint32(4) === 2 ? 'image/png' : 'image/jpeg'
    this.emit('b_preview', new Blob([buf.slice(8)], { type: mime }))
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }))
  }
}
