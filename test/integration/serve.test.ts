/** `dapdeck serve`: the HTTP API, static files, token rules, and the WebSocket CMSIS-DAP bridge. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { serve, type RunningServer } from '../../main/serve/server';

let open: RunningServer;
let guarded: RunningServer;

beforeAll(async () => {
  open = await serve({ port: 0 });
  guarded = await serve({ port: 0, token: 's3cret' });
});
afterAll(async () => {
  await open?.close();
  await guarded?.close();
});

function exchange(url: string, packets: number[][], origin?: string): Promise<{ info: Record<string, unknown>; responses: number[][] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, origin ? { origin } : {});
    const responses: number[][] = [];
    let info: Record<string, unknown> = {};
    ws.on('message', (data, binary) => {
      if (!binary) {
        info = JSON.parse(String(data));
        if (info.type === 'error') return reject(new Error(String(info.message)));
        for (const p of packets) ws.send(Uint8Array.from(p)); // pipelined, answered in order
        return;
      }
      responses.push(Array.from(data as Buffer));
      if (responses.length === packets.length) {
        ws.close();
        resolve({ info, responses });
      }
    });
    ws.on('error', reject);
    ws.on('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

describe('dapdeck serve', () => {
  it('lists probes and chips, and serves target files', async () => {
    const probes = await (await fetch(`${open.url}api/probes`)).json();
    expect(probes.map((p: { selector: string }) => p.selector)).toEqual(expect.arrayContaining(['emu:microbit', 'sim:cortex-m3']));
    const chips = await (await fetch(`${open.url}api/chips`)).json();
    expect(chips).toContainEqual({ chip: 'nRF51822_xxAA', target: 'nrf51.yaml' });
    const yaml = await (await fetch(`${open.url}api/targets/nrf51.yaml`)).text();
    expect(yaml).toMatch(/nRF51822_xxAA/);
    expect((await fetch(`${open.url}api/targets/..%2F..%2Fpackage.json`)).status).toBe(404);
  });

  it('never serves files outside the web build, and sends a CSP', async () => {
    const r = await fetch(`${open.url}..%2Fpackage.json`);
    expect([404, 503]).toContain(r.status);
    expect(r.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
  });

  it('bridges CMSIS-DAP packets over a WebSocket, in order', async () => {
    const { info, responses } = await exchange(`${open.url.replace('http', 'ws')}probe?selector=sim:cortex-m3`, [
      [0x00, 0xff], // DAP_Info packet size
      [0x00, 0xf0], // capabilities
      [0x02, 0x01], // DAP_Connect SWD
    ]);
    expect(info).toMatchObject({ type: 'probe', selector: 'sim:cortex-m3', packetSize: 512 });
    expect(responses[0]).toEqual([0x00, 2, 0x00, 0x02]);
    expect(responses[1][0]).toBe(0x00);
    expect(responses[1][2] & 1).toBe(1); // SWD
    expect(responses[2]).toEqual([0x02, 0x01]);
  });

  it('requires the token when one is set, for HTTP and WebSocket alike', async () => {
    expect((await fetch(`${guarded.url}api/probes`)).status).toBe(401);
    expect((await fetch(`${guarded.url}api/probes?token=wrong`)).status).toBe(401);
    expect((await fetch(`${guarded.url}api/probes?token=s3cret`)).status).toBe(200);
    expect((await fetch(`${guarded.url}api/probes`, { headers: { Authorization: 'Bearer s3cret' } })).status).toBe(200);
    await expect(exchange(`${guarded.url.replace('http', 'ws')}probe?selector=sim:cortex-m3`, [[0, 0xff]])).rejects.toThrow(/401/);
    const ok = await exchange(`${guarded.url.replace('http', 'ws')}probe?selector=sim:cortex-m3&token=s3cret`, [[0, 0xff]]);
    expect(ok.responses).toHaveLength(1);
  });

  it('generates a token when listening beyond loopback', async () => {
    const s = await serve({ host: '0.0.0.0', port: 0 });
    try {
      expect(s.token).toMatch(/^[0-9a-f]{32}$/);
    } finally {
      await s.close();
    }
  });

  it('refuses probe sockets opened by pages of other origins', async () => {
    const url = `${open.url.replace('http', 'ws')}probe?selector=sim:cortex-m3`;
    await expect(exchange(url, [[0, 0xff]], 'https://evil.example')).rejects.toThrow(/403/);
    const own = await exchange(url, [[0, 0xff]], open.url.replace(/\/$/, ''));
    expect(own.responses).toHaveLength(1);
  });

  it('reports an unknown probe over the socket', async () => {
    await expect(exchange(`${open.url.replace('http', 'ws')}probe?selector=sim:nope`, [[0, 0xff]])).rejects.toThrow(/unknown simulated target "nope"/);
  });
});
