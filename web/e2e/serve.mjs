// A tiny static server for web/dist with the client-side-route fallback FastAPI will also do.
import { createServer, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('../dist', import.meta.url)));
const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.woff2': 'font/woff2', '.woff': 'font/woff', '.json': 'application/json', '.svg': 'image/svg+xml' };

/** With API_TARGET=http://127.0.0.1:8000, /api/* is forwarded to a running Ecluse server. */
function proxy(req, res, target) {
  const t = new URL(target);
  const up = httpRequest({ host: t.hostname, port: t.port, path: req.url, method: req.method, headers: { ...req.headers, host: t.host } }, (r) => {
    res.writeHead(r.statusCode ?? 502, r.headers);
    r.pipe(res);
  });
  up.on('error', () => res.writeHead(502).end());
  req.pipe(up);
}

export function serve(port = 0, apiTarget = process.env.API_TARGET) {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (apiTarget && url.pathname.startsWith('/api/')) return proxy(req, res, apiTarget);
    let file = normalize(join(root, decodeURIComponent(url.pathname)));
    if (!file.startsWith(root)) file = join(root, 'index.html');
    try {
      if (!(await stat(file)).isFile()) throw new Error('dir');
    } catch {
      if (url.pathname.startsWith('/api/')) {
        res.writeHead(503, { 'content-type': 'application/json' }).end('{"detail":"no server in the smoke test"}');
        return;
      }
      file = join(root, 'index.html');
    }
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
    res.end(await readFile(file));
  });
  if (apiTarget) {
    // WebSocket upgrades (/api/v1/ws/...) are piped through as raw TCP
    server.on('upgrade', (req, socket, head) => {
      const t = new URL(apiTarget);
      const up = connect(Number(t.port), t.hostname, () => {
        const lines = [`${req.method} ${req.url} HTTP/1.1`, ...Object.entries({ ...req.headers, host: t.host }).map(([k, v]) => `${k}: ${v}`), '', ''];
        up.write(lines.join('\r\n'));
        up.write(head);
        socket.pipe(up).pipe(socket);
      });
      up.on('error', () => socket.destroy());
      socket.on('error', () => up.destroy());
    });
  }
  return new Promise((ok) => server.listen(port, '127.0.0.1', () => ok(server)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const s = await serve(Number(process.env.PORT ?? 5179));
  console.log(`serving ${root} on http://127.0.0.1:${s.address().port}`);
}
