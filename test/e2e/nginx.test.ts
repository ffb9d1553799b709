/**
 * A cooperative load balancer: nginx (Debian's package) in front of three hosts on one Redis.
 * Every session id starts with its owner's worker id, so nginx can send each request straight to
 * the owner's host with a `map` on the `Mcp-Session-Id` request header (no response learning,
 * which open-source nginx 1.22 lacks). The in-app forward stays the safety net.
 *
 * The same traffic goes through nginx configured round-robin, then with the map: the forward rate
 * falls from about two thirds to zero. docs/deployment-nginx.md shows the configuration.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initializeBody, rpc } from '../helpers/gateway';
import { type Host, startHost } from '../helpers/hosts';
import { freePort } from '../helpers/ports';
import { startRedis, type TestRedis, uniquePrefix } from '../helpers/redis';
import { waitFor } from '../helpers/wait';

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => fs.existsSync(p));
const SERVERS = { alpha: ['add', 'echo'], beta: ['reverse', 'whoami'] } as const;

/** The configuration documented in docs/deployment-nginx.md, with this test's addresses. */
function nginxConfig(options: { dir: string; listen: number; hosts: Array<{ id: string; address: string }>; pinned: boolean }): string {
  const { dir, listen, hosts, pinned } = options;
  return `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;

  upstream mcp_any {
${hosts.map((h) => `    server ${h.address};`).join('\n')}
    keepalive 32;
  }
${hosts.map((h) => `  upstream mcp_${h.id} { server ${h.address}; keepalive 32; }`).join('\n')}

  # A session id is "<owner's worker id>.<random>": send it to the owner's host. initialize (no
  # session id yet) and unknown ids go to any host; a worker that does not own the session still
  # forwards it, so a stale or wrong map only costs a hop.
  map $http_mcp_session_id $mcp_upstream {
    default mcp_any;
${hosts.map((h) => `    "~^${h.id}\\." mcp_${h.id};`).join('\n')}
  }

  server {
    listen 127.0.0.1:${listen};
    location / {
      proxy_pass http://${pinned ? '$mcp_upstream' : 'mcp_any'};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      # Server-sent events go out event by event.
      proxy_buffering off;
      proxy_read_timeout 1h;
    }
  }
}
`;
}

async function startNginx(config: string, dir: string, port: number): Promise<ChildProcess> {
  const file = path.join(dir, 'nginx.conf');
  fs.writeFileSync(file, config);
  execFileSync(NGINX!, ['-t', '-c', file, '-p', dir], { stdio: 'pipe' });
  const child = spawn(NGINX!, ['-c', file, '-p', dir], { stdio: 'ignore' });
  const failed = () => new Error(`nginx did not start: ${fs.readFileSync(path.join(dir, 'error.log'), 'utf8')}`);
  // nginx announces nothing when it listens: poll until it answers (an exit fails at once).
  await waitFor(
    () => {
      if (child.exitCode !== null || child.signalCode !== null) throw failed();
      return rpc(`http://127.0.0.1:${port}/mcp`, { jsonrpc: '2.0', id: 1, method: 'ping' }).then(
        () => true,
        () => false,
      );
    },
    { timeoutMs: 5000, intervalMs: 50, what: 'nginx answering' },
  ).catch(() => {
    throw failed();
  });
  return child;
}

async function stopNginx(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await exited;
}

/** 12 sessions × 10 requests through the balancer, a new connection each; returns the forward rate. */
async function drive(url: string): Promise<{ requests: number; forwards: number; misScoped: number }> {
  let requests = 0;
  let forwards = 0;
  let misScoped = 0;
  for (let s = 0; s < 12; s++) {
    const server = s % 2 === 0 ? 'alpha' : 'beta';
    const endpoint = `${url}/servers/${server}/mcp`;
    const init = await rpc(endpoint, initializeBody());
    expect(init.status).toBe(200);
    const session = String(init.headers['mcp-session-id']);
    for (let i = 0; i < 10; i++) {
      const response = await rpc(endpoint, { jsonrpc: '2.0', id: i, method: 'tools/list' }, { 'mcp-session-id': session });
      expect(response.status).toBe(200);
      requests++;
      if (response.headers['mcp-affinity-forwarded'] === 'true') forwards++;
      for (const tool of response.messages()[0].result.tools) if (!(SERVERS[server] as readonly string[]).includes(tool.name)) misScoped++;
    }
  }
  return { requests, forwards, misScoped };
}

describe('behind nginx', () => {
  let redis: TestRedis;
  let hosts: Host[] = [];
  let dir: string;
  let nginx: ChildProcess | undefined;

  beforeAll(async () => {
    if (!NGINX) throw new Error('nginx is not installed: apt-get install nginx-light (.ci/run does this)');
    redis = await startRedis();
    const env = { REDIS_URL: redis.url, PREFIX: uniquePrefix('nginx'), SECRET: randomBytes(32).toString('base64url') };
    hosts = await Promise.all(
      ['127.0.0.2', '127.0.0.3', '127.0.0.4'].map((address, i) => startHost(address, { ...env, WORKER_ID: `h${i + 1}` })),
    );
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mcp-nginx-'));
  });
  afterEach(async () => {
    await stopNginx(nginx);
    nginx = undefined;
  });
  afterAll(async () => {
    await Promise.all(hosts.map((h) => h.stop()));
    await redis?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('routing by the owner written in the session id makes forwards disappear', async () => {
    const upstreams = hosts.map((h) => ({ id: h.workerId, address: new URL(h.url).host }));
    const port = await freePort();

    nginx = await startNginx(nginxConfig({ dir, listen: port, hosts: upstreams, pinned: false }), dir, port);
    const roundRobin = await drive(`http://127.0.0.1:${port}`);
    await stopNginx(nginx);

    nginx = await startNginx(nginxConfig({ dir, listen: port, hosts: upstreams, pinned: true }), dir, port);
    const pinned = await drive(`http://127.0.0.1:${port}`);

    console.log(
      `nginx round-robin: ${roundRobin.forwards}/${roundRobin.requests} requests forwarded; pinned by session id: ${pinned.forwards}/${pinned.requests}`,
    );
    expect(roundRobin.misScoped + pinned.misScoped).toBe(0);
    // Round-robin over three hosts: about two requests in three reach a host that does not own the session.
    expect(roundRobin.forwards / roundRobin.requests).toBeGreaterThan(0.4);
    expect(pinned.forwards).toBe(0);
  });
});
