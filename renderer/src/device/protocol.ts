/** Messages between the UI thread and the device worker (which owns the probe, RTT and decoding). */

export type ToWorker =
  | { type: 'connect'; url: string }
  | { type: 'connect-port'; port: MessagePort; packetSize: number; description: string }
  | { type: 'disconnect' }
  | { type: 'flash'; image: ArrayBuffer; fileName: string; chip: string; targetYaml: string; targetFile: string; run: boolean }
  | { type: 'attach'; elf: ArrayBuffer | null; fileName: string }
  | { type: 'trace'; on: boolean }
  | { type: 'control'; action: 'halt' | 'resume' | 'reset' }
  | { type: 'rtt-write'; channel: number; text: string }
  | { type: 'read-memory'; address: number; length: number }
  | { type: 'timeline-canvas'; canvas: OffscreenCanvas }
  | { type: 'timeline-view'; view: TimelineView };

/** What the timeline canvas shows: `windowUs` of time ending `backUs` before the newest event. */
export interface TimelineView {
  windowUs: number;
  backUs: number;
  width: number;
  height: number;
  dpr: number;
}

export interface LogLine {
  seq: number;
  channel: number;
  level: 'trace' | 'debug' | 'info' | 'warn' | 'error' | null;
  timestamp: string | null;
  message: string;
  location: string | null;
  module: string | null;
}

export interface LaneSummary {
  name: string;
  kind: string;
  activations: number;
  load: number;
  meanUs: number;
  maxUs: number;
}

export interface TimelineSnapshot {
  lanes: LaneSummary[];
  spanUs: number;
  gaps: [number, number][];
  /** CPU load (0–1, NaN where nothing was recorded) per pixel column of the window last drawn. */
  load: { fromUs: number; toUs: number; values: Float32Array; meanInView: number };
}

/** Height of the CPU-load strip under the lanes (the worker draws it, the page hovers it). */
export const LOAD_CHART_HEIGHT = 56;
export const TIMELINE_LANE_HEIGHT = 26;
export const TIMELINE_LABEL_WIDTH = 110;

/** The timeline canvas: the lanes, the load strip under them, and a line for the time axis. */
export function timelineCanvasHeight(lanes: number): number {
  return lanes * TIMELINE_LANE_HEIGHT + LOAD_CHART_HEIGHT + 22;
}

export type FromWorker =
  | { type: 'status'; state: 'disconnected' | 'connecting' | 'connected' | 'busy'; detail: string }
  | { type: 'progress'; phase: string; done: number; total: number }
  | { type: 'flashed'; summary: string; verified: boolean; skipped: number; touched: number }
  | { type: 'lines'; lines: LogLine[] }
  | { type: 'channels'; up: { index: number; name: string }[]; down: { index: number; name: string }[] }
  | { type: 'timeline'; snapshot: TimelineSnapshot }
  | { type: 'registers'; values: [string, number][] }
  | { type: 'memory'; address: number; bytes: Uint8Array }
  | { type: 'error'; message: string };
