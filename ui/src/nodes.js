// nodes.js -- litegraph node types made from the daemon's /object_info.
//
// Each definition becomes one registered LGraphNode class: widget inputs (INT, FLOAT,
// STRING, BOOLEAN, combos) become widgets in input_order, every other input type becomes a
// socket, outputs become output sockets. Slot and link colours follow ComfyUI's default
// palette so graphs look as users know them. Inputs that declare control_after_generate
// get ComfyUI's companion combo (fixed / increment / decrement / randomize), applied after
// each queue and never sent in the prompt.

import { LiteGraph, LGraphCanvas, LGraphNode } from '@comfyorg/litegraph'

export const TYPE_COLORS = {
  CLIP: '#FFD500', CLIP_VISION: '#A8DADC', CLIP_VISION_OUTPUT: '#ad7452', CONDITIONING: '#FFA931',
  CONTROL_NET: '#6EE7B7', IMAGE: '#64B5F6', LATENT: '#FF9CF9', MASK: '#81C784', MODEL: '#B39DDB',
  STYLE_MODEL: '#C2FFAE', VAE: '#FF6E6E', UPSCALE_MODEL: '#C2FFAE', INT: '#29699c', FLOAT: '#29699c',
}

const WIDGET_TYPES = new Set(['INT', 'FLOAT', 'STRING', 'BOOLEAN', 'COMBO'])
export const CONTROL_VALUES = ['fixed', 'increment', 'decrement', 'randomize']

export function isWidgetSpec(spec) {
  const [type, opts] = spec
  if (opts?.forceInput) return false
  return Array.isArray(type) || WIDGET_TYPES.has(type)
}

function comboValues(spec) {
  const [type, opts] = spec
  return Array.isArray(type) ? type : (opts?.options || [])
}

function addInputWidget(node, name, spec) {
  const [type, opts = {}] = spec
  if (Array.isArray(type) || type === 'COMBO') {
    const values = comboValues(spec)
    const w = node.addWidget('combo', name, opts.default ?? values[0] ?? '', null, { values })
    if (opts.image_upload) addUploadButton(node, w)
    return w
  }
  if (type === 'INT') {
    const w = node.addWidget('number', name, opts.default ?? 0, null,
      { min: opts.min ?? -Number.MAX_SAFE_INTEGER, max: Math.min(opts.max ?? Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER),
        step2: opts.step ?? 1, precision: 0, round: 1 })
    if (opts.control_after_generate) {
      const mode = typeof opts.control_after_generate === 'string' ? opts.control_after_generate : 'randomize'
      const c = node.addWidget('combo', 'control_after_generate', mode, null, { values: CONTROL_VALUES })
      c.controls = w
      c.serializeToPrompt = false
    }
    return w
  }
  if (type === 'FLOAT') {
    const round = opts.round === false ? undefined : opts.round
    return node.addWidget('number', name, opts.default ?? 0, null,
      { min: opts.min ?? -Infinity, max: opts.max ?? Infinity, step2: opts.step ?? 0.1, round,
        precision: decimals(opts.round || opts.step || 0.01) })
  }
  if (type === 'BOOLEAN') {
    return node.addWidget('toggle', name, opts.default ?? false, null, { on: opts.label_on, off: opts.label_off })
  }
  const w = node.addWidget('text', name, opts.default ?? '', null, { multiline: !!opts.multiline })
  if (opts.multiline) w.multiline = true
  return w
}

function decimals(step) {
  const s = String(step)
  return s.includes('.') ? s.split('.')[1].length : 0
}

// LoadImage-style combos: a button that uploads a picked file and selects it.
function addUploadButton(node, combo) {
  node.addWidget('button', 'choose file to upload', null, () => {
    const input = document.createElement('input')
    input.type = 'file'
    input.accept = 'image/*'
    input.onchange = () => input.files[0] && node.uploadFile?.(input.files[0], combo)
    input.click()
  }).serializeToPrompt = false
}

// Register every node class of /object_info. `hooks` gives the node types access to the
// app (uploads, image previews) without this module knowing about panels.
export function registerNodeTypes(defs, hooks) {
  Object.assign(LGraphCanvas.link_type_colors, TYPE_COLORS)
  for (const [name, def] of Object.entries(defs)) {
    class ComfyNode extends LGraphNode {
      constructor(title) {
        super(title || def.display_name || name)
        this.comfyClass = name
        this.serialize_widgets = true
        this.imgs = null
        for (const cat of ['required', 'optional']) {
          const order = def.input_order?.[cat] || Object.keys(def.input?.[cat] || {})
          for (const input of order) {
            const spec = def.input[cat][input]
            if (isWidgetSpec(spec)) addInputWidget(this, input, spec)
            else this.addInput(input, spec[0], { color_on: TYPE_COLORS[spec[0]] })
          }
        }
        def.output.forEach((type, i) => {
          const t = Array.isArray(type) ? 'COMBO' : type
          this.addOutput(def.output_name?.[i] || t, t, { color_on: TYPE_COLORS[t] })
        })
        const size = this.computeSize()
        this.size = [Math.max(size[0], 220), size[1]]
      }

      uploadFile(file, combo) { return hooks.upload(this, file, combo) }

      onDrawForeground(ctx) {
        if (!this.imgs?.length || this.flags?.collapsed) return
        const img = this.imgs[this.imgs.length - 1]
        if (!img.complete || !img.naturalWidth) return
        const top = this.widgets?.length ? this.widgets[this.widgets.length - 1].last_y + 26 : 10
        const w = this.size[0] - 20
        const h = Math.max(this.size[1] - top - 10, 0)
        const scale = Math.min(w / img.naturalWidth, h / img.naturalHeight)
        if (scale <= 0) return
        const dw = img.naturalWidth * scale
        const dh = img.naturalHeight * scale
        ctx.drawImage(img, 10 + (w - dw) / 2, top + (h - dh) / 2, dw, dh)
      }
    }
    ComfyNode.title = def.display_name || name
    ComfyNode.comfyClass = name
    ComfyNode.category = def.category
    ComfyNode.nodeData = def
    LiteGraph.registerNodeType(name, ComfyNode)
  }
}

// After a queue, apply each control_after_generate widget to the value it controls.
export function applyControlWidgets(graph) {
  for (const node of graph._nodes) {
    for (const w of node.widgets || []) {
      if (!w.controls) continue
      const target = w.controls
      const { min = 0, max = Number.MAX_SAFE_INTEGER } = target.options
      if (w.value === 'increment') target.value = Math.min(target.value + 1, max)
      else if (w.value === 'decrement') target.value = Math.max(target.value - 1, min)
      else if (w.value === 'randomize') target.value = Math.floor(Math.random() * Math.min(max - min, 2 ** 50)) + min
    }
  }
}
