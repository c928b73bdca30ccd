// Holds `count` connections to host:port; reconnects each one the listener closes.
const [hostname, portText, countText] = Deno.args;
const port = Number(portText);
let opened = 0;
async function hold() {
  for (;;) {
    let conn;
    try {
      conn = await Deno.connect({ hostname, port });
    } catch {
      await new Promise((r) => setTimeout(r, 10));
      continue;
    }
    opened++;
    try {
      await conn.read(new Uint8Array(1));
    } catch { /* reset */ }
    try {
      conn.close();
    } catch { /* closed */ }
  }
}
for (let i = 0; i < Number(countText); i++) hold();
setInterval(() => console.log(opened), 1000);
