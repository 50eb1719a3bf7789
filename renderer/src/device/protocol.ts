/** Messages between the UI thread and the device worker (which owns the probe, RTT and decoding). */
import type { PortableChip } from '../../../core/flash/portable-chip';

export type ToWorker =
  /**
   * `resume`: take over the board this page had before a reload (`dapdeck serve` holds it for its
   * grace period under `key`), and stream its RTT again with `stream`'s ELF if it was streaming.
   */
  | { type: 'connect'; url: string; resume?: { key: string; stream: { elf: ArrayBuffer | null; fileName: string } | null } }
  | { type: 'connect-port'; port: MessagePort; packetSize: number; description: string }
  /** The emulated Pico in the worker itself (no server, no USB): a fresh chip every time. */
  | { type: 'connect-page' }
  | { type: 'disconnect' }
  /**
   * `chip`: the chip as `dapdeck serve` resolves it (/api/chips/NAME: regions, algorithms, RAM).
   * `base`: where a raw .bin goes (ELF, HEX and UF2 carry their addresses).
   */
  | { type: 'flash'; image: ArrayBuffer; fileName: string; chip: PortableChip; run: boolean; base?: number }
  /** Erase the chip's flash: every region, or the sectors covering `range`. */
  | { type: 'erase'; chip: PortableChip; range?: { start: number; size: number } }
  /** Read `length` bytes from `address` and hand them back as a file to save (`name`). */
  | { type: 'read-to-file'; address: number; length: number; name: string }
  /** The page saw its USB probe go away (WebUSB/WebHID disconnect event). */
  | { type: 'transport-lost'; reason: string }
  | { type: 'attach'; elf: ArrayBuffer | null; fileName: string }
  | { type: 'trace'; on: boolean }
  | { type: 'control'; action: 'halt' | 'resume' | 'reset' }
  | { type: 'rtt-write'; channel: number; text: string }
  /** `address` is a number (0x… or decimal) or a symbol of the chosen ELF; the worker resolves it. */
  | { type: 'read-memory'; address: string; length: number }
  /** The firmware file the user chose: its symbols serve the memory view (and RTT on attach). */
  | { type: 'firmware-file'; bytes: ArrayBuffer | null; fileName: string }
  | { type: 'timeline-canvas'; canvas: OffscreenCanvas }
  | { type: 'timeline-view'; view: TimelineView }
  /** The cursor over the timeline canvas (CSS px), or null when it left. */
  | { type: 'timeline-hover'; x: number | null; y: number }
  | { type: 'recording-save'; format: 'svdat' | 'perfetto' }
  | { type: 'recording-load'; bytes: ArrayBuffer; fileName: string };

/** What the timeline canvas shows: `windowUs` of time ending `backUs` before the newest event. */
export interface TimelineView {
  windowUs: number;
  backUs: number;
  width: number;
  height: number;
  dpr: number;
  /** Measuring points, µs from the start of the recording. */
  marks?: number[];
}

/** The span under the cursor on the timeline. */
export interface TimelineHover {
  lane: string;
  kind: string;
  startUs: number;
  durationUs: number;
  /** The task or ISR whose start ended this span, if one did. */
  preemptedBy: string | null;
  truncated: boolean;
}

/** The probe menu's entry for the emulated Pico that runs in the page's own worker. */
export const PAGE_PICO_SELECTOR = 'page:pico';
export const PAGE_PICO_DESCRIPTION = 'Emulated Pico (in this page)';

/** LogLine.channel of the app's own notes (shown in every view). */
export const NOTE_CHANNEL = -1;
/** LogLine.channel of text the user sent down (echoed in every view). */
export const ECHO_CHANNEL = -2;
/** The block that reports a stop (fault, registers in words, backtrace): shown as it is, in red. */
export const STOP_CHANNEL = -3;

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
  /** Decoded events and SystemView bytes so far (shown while recording, before any lane). */
  events: number;
  bytes: number;
  /** 'live', or the name of a loaded recording. */
  source: string;
  /**
   * The task and ISR spans in the window last drawn, oldest first (at most EVENT_LIST_LIMIT); `total`
   * counts them all unless `complete` is false (a window too long to count: "at least").
   */
  spans: { list: TimelineSpan[]; total: number; complete: boolean; fromUs: number; toUs: number };
}

/** One span of a task or ISR on the timeline, µs from the start of the recording. */
export interface TimelineSpan {
  lane: string;
  kind: string;
  startUs: number;
  durationUs: number;
}

/** Rows of the event list (a window with more says how many it holds). */
export const EVENT_LIST_LIMIT = 200;

/** Height of the CPU-load strip under the lanes (the worker draws it, the page hovers it). */
export const LOAD_CHART_HEIGHT = 56;
export const TIMELINE_LANE_HEIGHT = 26;
export const TIMELINE_LABEL_WIDTH = 110;

/** The timeline canvas: the lanes, the load strip under them, and a line for the time axis. */
export function timelineCanvasHeight(lanes: number): number {
  return lanes * TIMELINE_LANE_HEIGHT + LOAD_CHART_HEIGHT + 22;
}

/**
 * The target as the worker knows it: the one state every view shows and every action is enabled by.
 * `lost` means the transport died (server gone, probe unplugged, no answer): nothing is sent until
 * the user reconnects.
 */
export type TargetState =
  | { kind: 'disconnected' }
  | { kind: 'connecting'; probe: string }
  /** `lockup`: the core is locked up (a fault in the fault handler; DHCSR.S_LOCKUP): not halted, not running code. */
  | { kind: 'running'; probe: string; core: string; lockup?: boolean }
  | { kind: 'halted'; probe: string; core: string; reason: string; pc: number }
  /** `erasing`: an erase (of `file`: the chip, or a range) rather than a flash of the file. */
  | { kind: 'flashing'; probe: string; core: string; file: string; erasing?: boolean }
  | { kind: 'lost'; probe: string; reason: string };

export type FromWorker =
  | { type: 'state'; state: TargetState }
  /** The server's key for reattaching to this board after a reload (null: it gave none). */
  | { type: 'board'; reattachKey: string | null }
  /** RTT now streams from the firmware of this file (null: the stream stopped). */
  | { type: 'streaming'; fileName: string | null }
  /** New firmware is on the target (flashed or attached to): what was read from the old one is gone. */
  | { type: 'firmware'; fileName: string }
  | { type: 'progress'; phase: string; done: number; total: number }
  | { type: 'flashed'; summary: string; verified: boolean; skipped: number; touched: number }
  | { type: 'erased'; summary: string; sectors: number }
  /** A read-to-file in progress (bytes read of the total). */
  | { type: 'read-progress'; done: number; total: number }
  | { type: 'lines'; lines: LogLine[] }
  | { type: 'channels'; up: { index: number; name: string }[]; down: { index: number; name: string }[] }
  | { type: 'timeline'; snapshot: TimelineSnapshot }
  | { type: 'timeline-hover'; hover: TimelineHover | null }
  /** A file for the user to save (the page downloads it). */
  | { type: 'download'; name: string; mime: string; data: ArrayBuffer }
  /** Core registers read when the core halted. */
  | { type: 'registers'; values: [string, number][] }
  /** `label`: what the user asked for (a symbol name or the address as typed). */
  | { type: 'memory'; address: number; label: string; bytes: Uint8Array; whileRunning: boolean }
  /** The page's emulated Pico over the last second: emulated clock (MHz of its 125) and instructions (millions) per wall second. */
  | { type: 'emulator'; emulatedMHz: number; mips: number }
  /** A request failed; `action` is the request's type (the page clears the error on the next action). */
  | { type: 'error'; message: string; action?: ToWorker['type'] };
