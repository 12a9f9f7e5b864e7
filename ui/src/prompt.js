// prompt.js -- between the editor's graph and ComfyUI's API-format prompt.
//
// graphToPrompt: every node that is not muted becomes {inputs, class_type, _meta}; widget
// values are sent by name, linked inputs as [origin id (string), origin slot]. Bypassed
// nodes are spliced out by connecting each consumer to the bypassed node's input of the
// same type, as ComfyUI's frontend does.
// promptToGraph: rebuilds an editable graph from an API-format prompt (a PNG that carries
// only "prompt" metadata), laid out in columns by dependency depth.

import { LiteGraph } from '@comfyorg/litegraph'

const MODE_NEVER = 2
const MODE_BYPASS = 4

function resolveBypassed(graph, link) {
  let cur = link
  for (let hops = 0; cur && hops < 64; hops++) {
    const origin = graph.getNodeById(cur.origin_id)
    if (!origin || origin.mode !== MODE_BYPASS) return cur
    const type = origin.outputs?.[cur.origin_slot]?.type
    const through = origin.inputs?.find((inp) => inp.link != null && inp.type === type)
    cur = through ? graph.getLink(through.link) : null
  }
  return null
}

export function graphToPrompt(graph) {
  const prompt = {}
  for (const node of graph._nodes) {
    if (!node.comfyClass || node.mode === MODE_NEVER || node.mode === MODE_BYPASS) continue
    const inputs = {}
    for (const w of node.widgets || []) {
      if (w.serializeToPrompt === false || w.type === 'button') continue
      inputs[w.name] = w.value
    }
    for (const inp of node.inputs || []) {
      if (inp.link == null) continue
      const link = resolveBypassed(graph, graph.getLink(inp.link))
      if (link) inputs[inp.name] = [String(link.origin_id), link.origin_slot]
    }
    prompt[String(node.id)] = { inputs, class_type: node.comfyClass, _meta: { title: node.title } }
  }
  return prompt
}

function depthOf(prompt, id, memo, seen = new Set()) {
  if (memo.has(id)) return memo.get(id)
  if (seen.has(id)) return 0
  seen.add(id)
  let d = 0
  for (const v of Object.values(prompt[id]?.inputs || {})) {
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && prompt[v[0]]) {
      d = Math.max(d, depthOf(prompt, v[0], memo, seen) + 1)
    }
  }
  memo.set(id, d)
  return d
}

export function promptToGraph(graph, prompt) {
  graph.clear()
  const memo = new Map()
  const rows = new Map()
  const made = new Map()
  for (const [id, item] of Object.entries(prompt)) {
    const node = LiteGraph.createNode(item.class_type)
    if (!node) throw new Error(`unknown node type ${item.class_type} in the prompt`)
    const col = depthOf(prompt, id, memo)
    const row = rows.get(col) || 0
    rows.set(col, row + 1)
    node.pos = [40 + col * 320, 40 + row * 260]
    if (item._meta?.title) node.title = item._meta.title
    graph.add(node)
    for (const w of node.widgets || []) {
      const v = item.inputs?.[w.name]
      if (v !== undefined && !Array.isArray(v)) w.value = v
    }
    made.set(id, node)
  }
  for (const [id, item] of Object.entries(prompt)) {
    const node = made.get(id)
    for (const [name, v] of Object.entries(item.inputs || {})) {
      if (!Array.isArray(v) || !made.has(String(v[0]))) continue
      const slot = node.inputs?.findIndex((inp) => inp.name === name)
      if (slot >= 0) made.get(String(v[0])).connect(v[1], node, slot)
    }
  }
}
