/**
 * One kernel's completion comm (target `qwen_magic.completion`) and the completions
 * running over it.
 *
 * The comm is opened after each cell ran until it is open (so that the kernel reads the
 * notebook ahead as soon as `%load_ext qwen_magic` ran, before the first completion is
 * asked), on the first completion asked of the kernel, and again whenever it is gone:
 * closed by the kernel, disposed by a kernel restart. A
 * kernel that has not loaded qwen_magic has no such target, and ipykernel closes the
 * comm at once: every completion then ends with nothing to show, and the kernel is
 * left alone until it has run a cell (`%load_ext qwen_magic`, say) or a while has
 * passed.
 */

import type { Kernel, KernelMessage } from '@jupyterlab/services';
import { PromiseDelegate } from '@lumino/coreutils';

export const COMM_TARGET = 'qwen_magic.completion';

/**
 * After the kernel closed the comm (no target), the next attempt waits for a cell to
 * have run in the kernel, or this long.
 */
export const RETRY_AFTER_MS = 15_000;

/**
 * How long to wait for the comm's own subshell (a JupyterLab and a kernel that both
 * support kernel subshells) before opening the comm on the main shell anyway.
 */
const SUBSHELL_WAIT_MS = 3_000;

/** Why a completion ended. The kernel's `finish_reason`s, and the front end's own. */
export type Outcome =
  | 'stop'
  | 'length'
  | 'cancelled'
  | 'stale'
  | 'busy'
  | 'error'
  | 'closed'
  | 'timeout';

/** frontend → kernel */
export interface ICompleteMessage {
  type: 'complete';
  id: number;
  prefix: string;
  suffix: string;
  cells: string[];
  max_tokens?: number;
}

/** frontend → kernel */
export interface ICancelMessage {
  type: 'cancel';
  id: number;
}

/**
 * frontend → kernel, no answer. After a cell ran: the code cells up to it, so that the
 * kernel reads the grown notebook into the model's cache while idle. While the user types:
 * the code cells above the active one and `prefix`, the cell's text before the cursor, so
 * that the next completion has only the last keystrokes left to read.
 */
export interface IPrefillMessage {
  type: 'prefill';
  id: number;
  cells: string[];
  prefix?: string;
}

/** kernel → frontend */
export type KernelReply =
  | { type: 'chunk'; id: number; text: string }
  | { type: 'done'; id: number; finish_reason: string }
  | { type: 'busy'; id: number }
  | { type: 'error'; id: number; message: string };

/**
 * One completion: the text streamed so far and, once over, why it ended.
 */
export class Completion {
  constructor(
    readonly id: number,
    readonly channel: KernelChannel
  ) {}

  /** Everything the kernel has streamed, the deltas joined. */
  text = '';

  /** Null while the kernel may still send text. */
  outcome: Outcome | null = null;

  /** Whether the complete message went out (so a cancel is worth sending). */
  sent = false;

  get finished(): boolean {
    return this.outcome !== null;
  }

  /** Resolves at the next change: more text, or the end. */
  changed(): Promise<void> {
    return this._changed.promise;
  }

  append(delta: string): void {
    if (this.finished || !delta) {
      return;
    }
    this.text += delta;
    this._notify();
  }

  finish(outcome: Outcome): void {
    if (this.finished) {
      return;
    }
    this.outcome = outcome;
    this._notify();
  }

  private _notify(): void {
    const changed = this._changed;
    this._changed = new PromiseDelegate<void>();
    changed.resolve();
  }

  private _changed = new PromiseDelegate<void>();
}

/**
 * The completion comm of one kernel connection.
 */
export class KernelChannel {
  constructor(private readonly _kernel: Kernel.IKernelConnection) {
    _kernel.statusChanged.connect(this._onStatus, this);
    _kernel.iopubMessage.connect(this._onIOPub, this);
    _kernel.disposed.connect(this.dispose, this);
  }

  get isDisposed(): boolean {
    return this._isDisposed;
  }

  /**
   * Ask the kernel for a completion; null when it cannot be asked now (the
   * extension is not loaded in it, as far as we know, or the kernel is gone).
   */
  start(request: Omit<ICompleteMessage, 'type'>): Completion | null {
    if (this._isDisposed || this._kernel.isDisposed || !this._mayTry()) {
      return null;
    }
    const completion = new Completion(request.id, this);
    this._pending.set(request.id, completion);
    void this._sendComplete(completion, { type: 'complete', ...request });
    return completion;
  }

  /**
   * Let the kernel read ahead (see IPrefillMessage). Over a comm that is already open,
   * or, with `open` (a cell has just run: it may have been `%load_ext qwen_magic`), over
   * one opened for it: a kernel without qwen_magic closes it at once and is asked again
   * only after its next cell, never on a key press.
   */
  prefill(id: number, cells: string[], prefix?: string, open = false): void {
    const message: IPrefillMessage = { type: 'prefill', id, cells };
    if (prefix !== undefined) {
      message.prefix = prefix;
    }
    if (this._comm && !this._comm.isDisposed) {
      this._send(message);
      return;
    }
    if (!open || this._isDisposed || this._kernel.isDisposed) {
      return;
    }
    this._ranCellSinceClose = true; // the caller saw a cell run
    if (!this._mayTry()) {
      return;
    }
    void this._ensureComm().then(comm => {
      if (comm) {
        this._send(message);
      }
    });
  }

  /**
   * Stop a completion: nothing more of it is shown, and the kernel is told.
   */
  cancel(completion: Completion, outcome: Outcome = 'cancelled'): void {
    completion.finish(outcome);
    if (!this._pending.delete(completion.id) || !completion.sent) {
      return;
    }
    const message: ICancelMessage = { type: 'cancel', id: completion.id };
    this._send(message);
  }

  dispose(): void {
    if (this._isDisposed) {
      return;
    }
    this._isDisposed = true;
    this._kernel.statusChanged.disconnect(this._onStatus, this);
    this._kernel.iopubMessage.disconnect(this._onIOPub, this);
    this._kernel.disposed.disconnect(this.dispose, this);
    this._endAll('closed');
    const comm = this._comm;
    this._comm = null;
    if (comm && !comm.isDisposed && !this._kernel.isDisposed) {
      try {
        comm.close();
      } catch {
        // already gone
      }
    }
  }

  // -- the comm -------------------------------------------------------------------------

  private async _sendComplete(
    completion: Completion,
    message: ICompleteMessage
  ): Promise<void> {
    const comm = await this._ensureComm();
    if (completion.finished) {
      return; // cancelled (or the comm closed) while the comm was opening
    }
    if (!comm) {
      this._end(completion, 'closed');
      return;
    }
    completion.sent = this._send(message);
    if (!completion.sent) {
      this._end(completion, 'closed');
    }
  }

  private _send(message: ICompleteMessage | ICancelMessage | IPrefillMessage): boolean {
    const comm = this._comm;
    if (!comm || comm.isDisposed || this._kernel.isDisposed) {
      return false;
    }
    try {
      comm.send(message as any);
      return true;
    } catch (reason) {
      console.debug('qwen-magic: could not send to the kernel', reason);
      this._comm = null;
      return false;
    }
  }

  private _ensureComm(): Promise<Kernel.IComm | null> {
    if (this._comm && !this._comm.isDisposed) {
      return Promise.resolve(this._comm);
    }
    this._comm = null;
    if (!this._opening) {
      this._opening = this._open().then(comm => {
        this._opening = null;
        return comm;
      });
    }
    return this._opening;
  }

  /** Never rejects: null when the comm cannot be opened. */
  private async _open(): Promise<Kernel.IComm | null> {
    let comm: Kernel.IComm;
    try {
      comm = this._kernel.createComm(COMM_TARGET);
    } catch (reason) {
      console.debug('qwen-magic: no comm on this kernel connection', reason);
      return null;
    }
    comm.onMsg = message => this._onMessage(comm, message);
    comm.onClose = () => this._onClose(comm);
    try {
      await this._subshellReady(comm);
      if (comm.isDisposed || this._isDisposed || this._kernel.isDisposed) {
        return null;
      }
      comm.open({});
    } catch (reason) {
      console.debug('qwen-magic: could not open the completion comm', reason);
      return null;
    }
    this._comm = comm;
    return comm;
  }

  /**
   * Recent JupyterLab (4.6 here) gives each comm target its own subshell when the kernel
   * supports subshells (ipykernel 7), so that comm messages are handled while a cell
   * runs. Open the comm once that subshell exists, so that the open and the requests
   * after it go the same way (and the kernel can answer `busy` during a cell).
   */
  private async _subshellReady(comm: Kernel.IComm): Promise<void> {
    const started: Promise<void> | undefined = (comm as any).subshellStarted;
    if (!started) {
      return; // a JupyterLab without comms over subshells
    }
    const ready = (async () => {
      await this._kernel.info;
      const kernel = this._kernel as any;
      if (kernel.supportsSubshells && (comm as any).commsOverSubshells !== 'disabled') {
        await started;
      }
    })().catch(() => undefined); // no subshell after all: the main shell will do
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      ready,
      new Promise<void>(resolve => {
        timer = setTimeout(resolve, SUBSHELL_WAIT_MS);
      })
    ]);
    clearTimeout(timer);
  }

  private _onMessage(comm: Kernel.IComm, message: KernelMessage.ICommMsgMsg): void {
    if (comm !== this._comm) {
      return;
    }
    const data = message.content.data as unknown as KernelReply;
    if (!data || typeof data !== 'object' || typeof data.id !== 'number') {
      console.debug('qwen-magic: unexpected message from the kernel', data);
      return;
    }
    const completion = this._pending.get(data.id);
    if (!completion) {
      return; // cancelled here already, or not ours
    }
    switch (data.type) {
      case 'chunk':
        if (typeof data.text === 'string') {
          completion.append(data.text);
        }
        break;
      case 'done':
        this._end(completion, finishReason(data.finish_reason));
        break;
      case 'busy':
        this._end(completion, 'busy');
        break;
      case 'error':
        console.debug('qwen-magic: the kernel could not complete:', data.message);
        this._end(completion, 'error');
        break;
      default:
        console.debug('qwen-magic: unexpected message from the kernel', data);
    }
  }

  /** The kernel closed the comm: at once when qwen_magic is not loaded in it. */
  private _onClose(comm: Kernel.IComm): void {
    if (comm !== this._comm) {
      return; // an old comm, or our own close
    }
    this._comm = null;
    this._closedAt = Date.now();
    this._ranCellSinceClose = false;
    this._endAll('closed');
  }

  // -- the kernel -----------------------------------------------------------------------

  private _mayTry(): boolean {
    if (this._closedAt === null) {
      return true;
    }
    if (this._ranCellSinceClose || Date.now() - this._closedAt >= RETRY_AFTER_MS) {
      this._closedAt = null;
      return true;
    }
    return false;
  }

  private _onStatus(_: Kernel.IKernelConnection, status: Kernel.Status): void {
    if (status === 'restarting' || status === 'autorestarting' || status === 'dead') {
      // The comm dies with the kernel process (JupyterLab disposes it); a new process
      // may well have the extension loaded (a startup file), so try it at once.
      this._comm = null;
      this._closedAt = null;
      this._endAll('closed');
    }
  }

  private _onIOPub(_: Kernel.IKernelConnection, message: KernelMessage.IIOPubMessage): void {
    // A cell finished: it may have been `%load_ext qwen_magic`.
    if (
      message.header.msg_type === 'status' &&
      (message.content as KernelMessage.IStatusMsg['content']).execution_state === 'idle' &&
      (message.parent_header as Partial<KernelMessage.IHeader>)?.msg_type === 'execute_request'
    ) {
      this._ranCellSinceClose = true;
    }
  }

  private _end(completion: Completion, outcome: Outcome): void {
    this._pending.delete(completion.id);
    completion.finish(outcome);
  }

  private _endAll(outcome: Outcome): void {
    for (const completion of [...this._pending.values()]) {
      this._end(completion, outcome);
    }
  }

  private _comm: Kernel.IComm | null = null;
  private _opening: Promise<Kernel.IComm | null> | null = null;
  private _pending = new Map<number, Completion>();
  private _closedAt: number | null = null;
  private _ranCellSinceClose = false;
  private _isDisposed = false;
}

function finishReason(reason: unknown): Outcome {
  switch (reason) {
    case 'length':
    case 'cancelled':
    case 'stale':
      return reason;
    default:
      return 'stop';
  }
}
