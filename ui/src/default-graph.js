// default-graph.js -- ComfyUI's default txt2img graph, in API format, with the positions the
// editor opens it at. Built through promptToGraph-like wiring so it uses the same node
// definitions the daemon serves.

import { LiteGraph } from '@comfyorg/litegraph'

const NODES = [
  { id: 4, type: 'CheckpointLoaderSimple', pos: [26, 474], widgets: {} },
  { id: 6, type: 'CLIPTextEncode', pos: [415, 186], widgets: { text: 'beautiful scenery nature glass bottle landscape, , purple galaxy bottle,' }, title: 'CLIP Text Encode (Prompt)' },
  { id: 7, type: 'CLIPTextEncode', pos: [413, 389], widgets: { text: 'text, watermark' }, title: 'CLIP Text Encode (Negative)' },
  { id: 5, type: 'EmptyLatentImage', pos: [473, 609], widgets: { width: 512, height: 512, batch_size: 1 } },
  { id: 3, type: 'KSampler', pos: [863, 186], widgets: { seed: 156680208700286, steps: 20, cfg: 8, sampler_name: 'euler', scheduler: 'normal', denoise: 1 } },
  { id: 8, type: 'VAEDecode', pos: [1209, 188], widgets: {} },
  { id: 9, type: 'SaveImage', pos: [1451, 189], widgets: { filename_prefix: 'ComfyUI' } },
]

const LINKS = [
  [4, 0, 3, 'model'], [4, 1, 6, 'clip'], [4, 1, 7, 'clip'], [6, 0, 3, 'positive'], [7, 0, 3, 'negative'],
  [5, 0, 3, 'latent_image'], [3, 0, 8, 'samples'], [4, 2, 8, 'vae'], [8, 0, 9, 'images'],
]

export function loadDefaultGraph(graph) {
  graph.clear()
  const made = new Map()
  for (const spec of NODES) {
    const node = LiteGraph.createNode(spec.type)
    if (!node) throw new Error(`the daemon does not offer ${spec.type}`)
    node.id = spec.id
    node.pos = spec.pos
    if (spec.title) node.title = spec.title
    for (const w of node.widgets || []) {
      if (spec.widgets[w.name] !== undefined) w.value = spec.widgets[w.name]
    }
    graph.add(node)
    made.set(spec.id, node)
  }
  for (const [from, slot, to, input] of LINKS) {
    const target = made.get(to)
    made.get(from).connect(slot, target, target.inputs.findIndex((i) => i.name === input))
  }
}
