// png.js -- the text chunks of a PNG file (SaveImage writes "prompt" and "workflow").
// Reads tEXt (Latin-1) and iTXt (uncompressed UTF-8) chunks; anything else is skipped.

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10]

export function pngTextChunks(buffer) {
  const bytes = new Uint8Array(buffer)
  const view = new DataView(buffer)
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) throw new Error('not a PNG file')
  const out = {}
  let pos = 8
  while (pos + 12 <= bytes.length) {
    const len = view.getUint32(pos)
    const type = String.fromCharCode(...bytes.subarray(pos + 4, pos + 8))
    const data = bytes.subarray(pos + 8, Math.min(pos + 8 + len, bytes.length))
    if (type === 'tEXt' || type === 'iTXt') {
      const nul = data.indexOf(0)
      if (nul > 0) {
        const key = new TextDecoder('latin1').decode(data.subarray(0, nul))
        if (type === 'tEXt') {
          out[key] = new TextDecoder('latin1').decode(data.subarray(nul + 1))
        } else if (data[nul + 1] === 0) {
          // iTXt: keyword, compression flag, method, language tag NUL, translated keyword NUL, text
          let p = nul + 3
          p = data.indexOf(0, p) + 1
          p = data.indexOf(0, p) + 1
          if (p > 0) out[key] = new TextDecoder('utf-8').decode(data.subarray(p))
        }
      }
    }
    if (type === 'IEND') break
    pos += 12 + len
  }
  return out
}
