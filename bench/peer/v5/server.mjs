// PostGraphile 5 for bench/peer.sh, as a library: its CLI has no cluster mode, and the second row
// of the comparison runs two workers. Settings from the environment: DATABASE_URL, PEER_HOST,
// PEER_PORT, PEER_WORKERS (1 or more), PEER_POOL_SIZE (per worker, as Agora's pool).
import cluster from "node:cluster";
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { makePgService } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/node";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";

const workers = Number(process.env.PEER_WORKERS || 1);

if (workers > 1 && cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  // A worker that dies would leave the run measuring fewer workers than its row says.
  cluster.on("exit", (worker, code) => {
    console.error(`worker ${worker.process.pid} exited (${code})`);
    process.exit(1);
  });
} else {
  const preset = {
    extends: [PostGraphileAmberPreset, PostGraphileConnectionFilterPreset],
    pgServices: [
      makePgService({
        connectionString: process.env.DATABASE_URL,
        schemas: ["public"],
        poolConfig: { max: Number(process.env.PEER_POOL_SIZE || 16) },
      }),
    ],
    grafserv: { graphiql: false, watch: false },
    grafast: { explain: false },
  };
  const serv = postgraphile(preset).createServ(grafserv);
  const server = createServer();
  server.on("error", (e) => {
    console.error(e);
    process.exit(1);
  });
  await serv.addTo(server);
  server.listen(Number(process.env.PEER_PORT || 5678), process.env.PEER_HOST || "127.0.0.1", () =>
    console.error(`postgraphile 5 listening (pid ${process.pid})`),
  );
}
