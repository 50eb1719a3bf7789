/**
 * Which xterm.js renderer to use. The WebGL renderer is the fastest on a real GPU, but on a
 * software-rendered WebGL (SwiftShader, llvmpipe: VMs, remote desktops, no GPU driver) it is the
 * slowest: streaming 1000 lines/s dropped to 18–36 fps with long tasks of ~0.5 s there, while the
 * DOM renderer held 60 fps. So: WebGL only on a hardware GL, and back to the DOM renderer if frames
 * turn out slow anyway.
 */
import type { Terminal } from '@xterm/xterm';

const SOFTWARE_GL = /swiftshader|llvmpipe|softpipe|software|basic render|mesa offscreen|lavapipe/i;

export interface RendererVerdict {
  webgl: boolean;
  /** The GL renderer string (unmasked when the browser allows), or why there is none. */
  gl: string;
  reason: string;
}

/** Decide from the GL renderer string alone (no terminal needed). */
export function judgeWebgl(): RendererVerdict {
  let gl = 'no WebGL';
  try {
    const canvas = document.createElement('canvas');
    const ctx = (canvas.getContext('webgl2') ?? canvas.getContext('webgl')) as WebGLRenderingContext | null;
    if (!ctx) return { webgl: false, gl, reason: 'WebGL is not available' };
    const info = ctx.getExtension('WEBGL_debug_renderer_info');
    gl = String(ctx.getParameter(info ? info.UNMASKED_RENDERER_WEBGL : ctx.RENDERER));
    ctx.getExtension('WEBGL_lose_context')?.loseContext();
  } catch {
    return { webgl: false, gl, reason: 'WebGL is not available' };
  }
  if (SOFTWARE_GL.test(gl)) return { webgl: false, gl, reason: `WebGL is software-rendered (${gl})` };
  return { webgl: true, gl, reason: `hardware WebGL (${gl})` };
}

/** Frames slower than this on average while lines stream mean the GPU path is not paying off. */
const SLOW_FRAME_MS = 35;

export interface RendererState {
  kind: 'webgl' | 'dom';
  reason: string;
}

/**
 * Load the WebGL renderer where it helps; watch frame times while output arrives and fall back to
 * the DOM renderer if they are slow. `onChange` reports what is in use (and why).
 */
export async function chooseRenderer(t: Terminal, onChange: (s: RendererState) => void = () => undefined, verdict: RendererVerdict = judgeWebgl()): Promise<void> {
  if (!verdict.webgl) {
    onChange({ kind: 'dom', reason: verdict.reason });
    return;
  }
  const { WebglAddon } = await import('@xterm/addon-webgl');
  let webgl: InstanceType<typeof WebglAddon>;
  try {
    webgl = new WebglAddon();
    t.loadAddon(webgl);
  } catch {
    onChange({ kind: 'dom', reason: 'the WebGL renderer failed to start' });
    return;
  }
  let active = true;
  const fallBack = (reason: string) => {
    if (!active) return;
    active = false;
    webgl.dispose();
    onChange({ kind: 'dom', reason });
  };
  webgl.onContextLoss(() => fallBack('the WebGL context was lost'));
  onChange({ kind: 'webgl', reason: verdict.reason });
  // Measure frame intervals only while the terminal is drawing new output.
  let frames: number[] = [];
  let last = 0;
  let writing = false;
  t.onWriteParsed(() => (writing = true));
  const tick = (now: number) => {
    if (!active) return;
    if (writing && last) frames.push(now - last);
    writing = false;
    last = now;
    if (frames.length >= 60) {
      const mean = frames.reduce((a, b) => a + b, 0) / frames.length;
      if (mean > SLOW_FRAME_MS) return fallBack(`WebGL frames were slow (${mean.toFixed(0)} ms each while streaming)`);
      frames = [];
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
}
