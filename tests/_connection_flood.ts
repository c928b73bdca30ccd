/**
 * Holds connections to a TCP port, as a hostile local program would, for the connection-limit
 * tests: `deno run --allow-net tests/_connection_flood.ts HOST PORT COUNT MODE`. MODE `idle`
 * sends nothing; `slow` sends the start of an HTTP request and nothing more. Each connection the
 * server closes is opened again at once. Prints the connections opened so far once a second.
 */

const [hostname, portText, countText, mode] = Deno.args;
const port = Number(portText);
const count = Number(countText);
const slowStart = new TextEncoder().encode("GET /v1/status HTTP/1.1\r\nHost: x\r\n");
let opened = 0;

async function hold(): Promise<void> {
  for (;;) {
    let conn: Deno.TcpConn;
    try {
      conn = await Deno.connect({ hostname, port });
    } catch {
      // Refused or out of descriptors: try again shortly.
      await new Promise((resolve) => setTimeout(resolve, 10));
      continue;
    }
    opened++;
    try {
      if (mode === "slow") await conn.write(slowStart);
      await conn.read(new Uint8Array(1));
    } catch {
      // Reset by the server: open another.
    }
    try {
      conn.close();
    } catch {
      // Closed already.
    }
  }
}

for (let i = 0; i < count; i++) void hold();
setInterval(() => console.log(opened), 1000);
