// nginx proxy_cache in front of the upstream registry, configured the way a careful user would
// (nginx docs, ngx_http_proxy_module): TLS with HTTP/2, one fetch per cache key (proxy_cache_lock
// with timeouts long enough that waiters never go upstream themselves), 200/206/307 cached, blobs
// kept for 30 days, tags for an hour (SHORT_TTL_SECONDS for TTL_REPOSITORY) and revalidated with
// conditional GETs, upstream TLS verified against the bench CA, keep-alive upstream connections.
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { addExitHook } from "../test/support/exit-hooks.ts";
import { type OwnedProcess, spawnOwned, tailFile } from "../test/support/owned-process.ts";
import { createSandbox, type Sandbox } from "../test/support/sandbox.ts";
import { makeTempDir } from "../test/support/temp-dir.ts";
import { waitForHttp } from "../test/support/wait-http.ts";
import {
  type Contender,
  type ContenderContext,
  HOST_NAMES,
  SHORT_TTL_SECONDS,
  TTL_REPOSITORY,
} from "./contenders.ts";
import { treePids } from "./proc-tree.ts";

function nginxConfig(dir: string, ip: string, ctx: ContenderContext): string {
  const upstream = HOST_NAMES.direct;
  const proxy = `
      proxy_pass https://registry;
      proxy_cache registry;`;
  return `user root;
worker_processes auto;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  proxy_cache_path ${dir}/cache levels=1:2 keys_zone=registry:16m max_size=64g inactive=30d use_temp_path=off;
  upstream registry {
    server ${ctx.upstream.host}:443;
    keepalive 32;
  }
  server {
    listen ${ip}:443 ssl http2;
    server_name ${HOST_NAMES.nginx};
    # default 1000 requests per connection: load generators would measure reconnects
    keepalive_requests 1000000;
    ssl_certificate ${ctx.ca.cert};
    ssl_certificate_key ${ctx.ca.key};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host ${upstream};
    proxy_set_header Authorization $http_authorization;
    proxy_ssl_server_name on;
    proxy_ssl_name ${upstream};
    proxy_ssl_verify on;
    proxy_ssl_trusted_certificate ${ctx.ca.caCert};
    proxy_read_timeout 300s;
    proxy_buffers 16 64k;
    proxy_busy_buffers_size 256k;
    proxy_ignore_headers Cache-Control Expires Set-Cookie;
    proxy_cache_lock on;
    proxy_cache_lock_timeout 10m;
    proxy_cache_lock_age 10m;
    proxy_cache_use_stale error timeout updating;
    location ~ "^/v2/.+/blobs/sha256:[0-9a-f]{64}$" {${proxy}
      proxy_cache_key $uri;
      proxy_cache_valid 200 206 307 30d;
    }
    location ~ ^/v2/${TTL_REPOSITORY}/manifests/ {${proxy}
      proxy_cache_key $uri|$http_accept;
      proxy_cache_valid 200 ${SHORT_TTL_SECONDS}s;
      proxy_cache_revalidate on;
    }
    location ~ ^/v2/.+/manifests/ {${proxy}
      proxy_cache_key $uri|$http_accept;
      proxy_cache_valid 200 1h;
      proxy_cache_revalidate on;
    }
    location /v2/ {
      proxy_pass https://registry;
    }
  }
}
`;
}

export async function nginxContender(ctx: ContenderContext, ip: string): Promise<Contender> {
  const temp = await makeTempDir("wharf-bench-nginx-");
  const dir = temp.path;
  const conf = join(dir, "nginx.conf");
  await writeFile(conf, nginxConfig(dir, ip, ctx));
  let proc: OwnedProcess | undefined;
  let sandbox: Sandbox | undefined;
  let removeHook: (() => void) | undefined;

  const stop = async () => {
    const p = proc;
    proc = undefined;
    if (p) {
      const workers = treePids([p.pid]).slice(1);
      await p.stop(); // SIGTERM: nginx's fast shutdown, workers included
      for (const pid of workers) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
    }
    removeHook?.();
    await sandbox?.dispose();
    sandbox = undefined;
  };
  const start = async () => {
    await rm(join(dir, "cache"), { recursive: true, force: true });
    for (const d of ["cache", "tmp"]) await mkdir(join(dir, d), { recursive: true });
    // nginx resolves nothing here (the upstream is an address), but stays confined all the same
    sandbox = await createSandbox({});
    const argv = ["nginx", "-e", join(dir, "error.log"), "-p", dir, "-c", conf, "-g", "daemon off;"];
    const p = spawnOwned(sandbox.wrap(argv));
    proc = p;
    // spawnOwned SIGKILLs the master at exit; the workers would outlive it
    removeHook = addExitHook(() => {
      for (const pid of treePids([p.pid]).reverse()) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      }
    });
    await waitForHttp(`https://${ip}/v2/`, {
      accept: (s) => s === 200,
      alive: p.alive,
      timeoutMs: 10_000,
      describe: () => tailFile(join(dir, "error.log"), 20),
    });
  };
  try {
    await start();
  } catch (e) {
    await stop();
    await temp.remove();
    throw e;
  }
  return {
    name: "nginx",
    host: HOST_NAMES.nginx,
    ip,
    reset: async () => {
      await stop();
      await start();
    },
    pids: () => (proc ? [proc.pid] : []),
    stop: async () => {
      await stop();
      await temp.remove();
    },
  };
}
