// drive.mjs -- a published ComfyUI API client (@stable-canvas/comfyui-client) drives
// the daemon: node drive.mjs <host:port> <input image name>. Queues LoadImage ->
// ImageInvert -> SaveImage over WebSocket (enqueue) and again by polling
// (enqueue_polling), fetches the output image through the client, prints a JSON report.
import { Client } from "@stable-canvas/comfyui-client";
import WebSocket from "ws";

const [host, image] = process.argv.slice(2);
const client = new Client({ api_host: host, clientId: "npm-client", WebSocket, fetch: globalThis.fetch });

function graph(prefix) {
  return {
    "1": { class_type: "LoadImage", inputs: { image } },
    "2": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
    "3": { class_type: "SaveImage", inputs: { images: ["2", 0], filename_prefix: prefix } },
  };
}

async function fetchFirst(out) {
  const img = out.images[0];
  if (img.type === "url") {
    const r = await globalThis.fetch(img.data);
    return { url: img.data, status: r.status, bytes: (await r.arrayBuffer()).byteLength };
  }
  return { url: null, status: 200, bytes: img.data.byteLength };
}

const report = {};
try {
  await client.connect();
  report.nodes = Object.keys(await client.getNodeDefs()).length;
  const events = [];
  const ws = await client.enqueue(graph("npmws"), { progress: (p) => events.push(p) });
  report.ws = { prompt_id: ws.prompt_id, images: ws.images.length, ...(await fetchFirst(ws)) };
  const poll = await client.enqueue_polling(graph("npmpoll"), { polling_ms: 100 });
  report.poll = { prompt_id: poll.prompt_id, images: poll.images.length, ...(await fetchFirst(poll)) };
  const history = await client.getHistory();
  report.history = Object.keys(history).length;
  const queue = await client.getQueue();
  report.queue = { running: queue.Running.length, pending: queue.Pending.length };
} catch (e) {
  report.error = String(e && e.stack ? e.stack : e);
} finally {
  client.close();
}
console.log(JSON.stringify(report));
process.exit(report.error ? 1 : 0);
