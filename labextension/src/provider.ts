/**
 * The inline completion provider: JupyterLab asks, the notebook's kernel answers
 * through the completion comm (./channel.ts), and the answer streams in as ghost text.
 */

import type {
  CompletionHandler,
  IInlineCompletionContext,
  IInlineCompletionItem,
  IInlineCompletionList,
  IInlineCompletionProvider
} from '@jupyterlab/completer';
import { Text } from '@jupyterlab/coreutils';
import { NotebookPanel } from '@jupyterlab/notebook';
import type { Kernel } from '@jupyterlab/services';
import type { ISettingRegistry } from '@jupyterlab/settingregistry';
import type { JSONValue } from '@lumino/coreutils';
import type { Widget } from '@lumino/widgets';

import { Completion, KernelChannel } from './channel';

/** What JupyterLab's inline completer uses when its settings do not say otherwise. */
const DEFAULT_TIMEOUT_MS = 5000;

/**
 * While the user types, the text before the cursor goes to the kernel at most this often,
 * so that it reads the typed text ahead of the (debounced) completion request: a key press
 * costs the model one or two tokens, the request is then left with its two FIM markers.
 */
export const READ_AHEAD_MS = 100;

const EMPTY: IInlineCompletionList = { items: [] };

export class QwenInlineProvider implements IInlineCompletionProvider {
  static readonly ID = 'qwen-magic';

  readonly identifier = QwenInlineProvider.ID;
  readonly name = 'Qwen (local kernel model)';

  /**
   * Defaults for JupyterLab's own per-provider settings (enabled, timeout,
   * debouncerDelay, autoFillInMiddle): only the debouncer differs from JupyterLab's
   * default of 0, so that a model is not asked on every key press.
   */
  readonly schema: ISettingRegistry.IProperty = {
    default: { debouncerDelay: 250 } as any
  };

  /**
   * `maxTokens` from this plugin's settings; null (the default) leaves the length to the
   * kernel's `QwenMagics.completion_max_tokens`, the one default.
   */
  maxTokens: number | null = null;

  /** JupyterLab calls this with the provider's inline completer settings. */
  configure(settings: { [property: string]: JSONValue }): void {
    this._enabled = settings?.enabled !== false;
    const timeout = settings?.timeout;
    if (typeof timeout === 'number' && timeout > 0) {
      this._timeout = timeout;
    }
  }

  async fetch(
    request: CompletionHandler.IRequest,
    context: IInlineCompletionContext
  ): Promise<IInlineCompletionList<IInlineCompletionItem>> {
    // A new request means the user typed on (or asked again): the old ones are stale.
    this.cancelAll();

    const kernel = context.session?.kernel;
    const cells = cellsAbove(context.widget);
    if (!kernel || cells === null) {
      return EMPTY;
    }
    const cursor = Text.charIndexToJsIndex(request.offset, request.text);
    const completion = this._channel(kernel).start({
      id: ++this._lastId,
      prefix: request.text.slice(0, cursor),
      suffix: request.text.slice(cursor),
      cells,
      ...(this.maxTokens === null ? {} : { max_tokens: this.maxTokens })
    });
    if (!completion) {
      return EMPTY;
    }
    const token = `${QwenInlineProvider.ID}:${completion.id}`;
    this._active.set(token, completion);

    // Show something only once there is text: an empty suggestion would still take Tab.
    if (!(await firstText(completion, this._timeout))) {
      completion.channel.cancel(completion, 'timeout');
    }
    // The text changed meanwhile without a new request (JupyterLab asks nothing for an
    // emptied line): a suggestion for the old text would appear where it does not belong.
    const source = activeSource(context.widget);
    if (source !== undefined && source !== request.text) {
      completion.channel.cancel(completion);
      this._active.delete(token);
      return EMPTY;
    }
    if (completion.finished) {
      this._active.delete(token);
      // Over before it could be shown: show it if the model simply finished.
      const complete = completion.outcome === 'stop' || completion.outcome === 'length';
      return complete && completion.text ? { items: [{ insertText: completion.text }] } : EMPTY;
    }
    return { items: [{ insertText: completion.text, isIncomplete: true, token }] };
  }

  /**
   * The rest of a completion that `fetch` returned incomplete: the whole text so far
   * at each step, as JupyterLab expects.
   */
  async *stream(token: string): AsyncGenerator<{ response: IInlineCompletionItem }, undefined, unknown> {
    const completion = this._active.get(token);
    if (!completion) {
      return;
    }
    let shown = completion.text.length;
    try {
      for (;;) {
        if (completion.outcome === 'cancelled' || completion.outcome === 'timeout') {
          return; // superseded: say nothing more
        }
        if (completion.text.length > shown) {
          shown = completion.text.length;
          yield {
            response: { insertText: completion.text, isIncomplete: !completion.finished, token }
          };
          continue;
        }
        if (completion.finished) {
          return;
        }
        await completion.changed();
      }
    } finally {
      // Also reached when the consumer stops early.
      if (!completion.finished) {
        completion.channel.cancel(completion);
      }
      this._active.delete(token);
    }
  }

  /** Cancel every completion still running. */
  cancelAll(): void {
    for (const completion of this._active.values()) {
      if (!completion.finished) {
        completion.channel.cancel(completion);
      }
    }
    this._active.clear();
  }

  dispose(): void {
    this.cancelAll();
    for (const channel of this._channels.values()) {
      channel.dispose();
    }
    this._channels.clear();
  }

  /**
   * A cell of `panel` ran: let its kernel prefill the context of the cell below (the code
   * cells up to and including the one that ran), opening the comm if it is not open yet:
   * the notebook is read ahead before the first completion is asked.
   */
  prefillAfter(panel: NotebookPanel, ran: object): void {
    const kernel = panel.sessionContext.session?.kernel;
    if (!this._enabled || !kernel || kernel.isDisposed) {
      return;
    }
    const channel = this._channel(kernel);
    const cells: string[] = [];
    for (const cell of panel.content.widgets) {
      if (cell.model.type === 'code') {
        cells.push(cell.model.sharedModel.getSource());
      }
      if (cell === ran) {
        break;
      }
    }
    channel.prefill(++this._lastId, cells, undefined, true);
  }

  /**
   * The active cell of `panel` changed: soon, send its kernel the text before the cursor
   * to read ahead (at most once per READ_AHEAD_MS, with the text as it is then).
   */
  readAhead(panel: NotebookPanel): void {
    if (!this._enabled || this._readAheadTimer !== undefined) {
      return;
    }
    this._readAheadTimer = setTimeout(() => {
      this._readAheadTimer = undefined;
      const kernel = panel.sessionContext.session?.kernel;
      const channel = kernel ? this._channels.get(kernel) : undefined;
      const cell = panel.content.activeCell;
      const cells = cellsAbove(panel);
      if (!channel || channel.isDisposed || !cell?.editor || cells === null || panel.isDisposed) {
        return;
      }
      const editor = cell.editor;
      const text = editor.model.sharedModel.getSource();
      const cursor = editor.getOffsetAt(editor.getCursorPosition());
      channel.prefill(++this._lastId, cells, text.slice(0, cursor));
    }, READ_AHEAD_MS);
  }

  private _channel(kernel: Kernel.IKernelConnection): KernelChannel {
    let channel = this._channels.get(kernel);
    if (!channel || channel.isDisposed) {
      channel = new KernelChannel(kernel);
      this._channels.set(kernel, channel);
      kernel.disposed.connect(() => this._channels.delete(kernel));
    }
    return channel;
  }

  private _timeout = DEFAULT_TIMEOUT_MS;
  private _enabled = true;
  private _readAheadTimer: ReturnType<typeof setTimeout> | undefined;
  private _lastId = 0;
  private _active = new Map<string, Completion>();
  private _channels = new Map<Kernel.IKernelConnection, KernelChannel>();
}

/**
 * The source of each code cell above the active one, oldest first; `[]` outside
 * notebooks (a console), null when the active cell is not a code cell.
 */
export function cellsAbove(widget: Widget): string[] | null {
  if (!(widget instanceof NotebookPanel)) {
    return [];
  }
  const notebook = widget.content;
  const active = notebook.activeCell;
  if (!active || active.model.type !== 'code') {
    return null;
  }
  const cells: string[] = [];
  for (const cell of notebook.widgets) {
    if (cell === active) {
      break;
    }
    if (cell.model.type === 'code') {
      cells.push(cell.model.sharedModel.getSource());
    }
  }
  return cells;
}

/** The text of the cell being edited in a notebook; undefined elsewhere (a console). */
function activeSource(widget: Widget): string | undefined {
  if (!(widget instanceof NotebookPanel)) {
    return undefined;
  }
  return widget.content.activeCell?.model.sharedModel.getSource();
}

/**
 * Wait until the completion has text or is over; false if neither happened in time.
 */
async function firstText(completion: Completion, timeoutMs: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<false>(resolve => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  const ready = (async () => {
    while (!completion.text && !completion.finished) {
      await completion.changed();
    }
    return true as const;
  })();
  try {
    return await Promise.race([ready, timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
