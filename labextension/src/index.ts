/**
 * qwen-magic:inline-completer — ghost-text code completion in JupyterLab ≥ 4.1 and
 * Notebook ≥ 7.1, served by the qwen-magic model already loaded in the notebook's
 * kernel (`%load_ext qwen_magic`), through the comm `qwen_magic.completion`.
 *
 * JupyterLab's inline completer does the rest: the ghost text, Tab to accept, and the
 * per-provider settings (enabled, debouncer delay, timeout, fill in the middle).
 */

import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICompletionProviderManager } from '@jupyterlab/completer';
import { INotebookTracker, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';

import { QwenInlineProvider } from './provider';

export { COMM_TARGET } from './channel';
export { QwenInlineProvider } from './provider';

const PLUGIN_ID = 'qwen-magic:inline-completer';

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'Inline (ghost text) completion from the qwen-magic model loaded in the notebook kernel.',
  autoStart: true,
  requires: [ICompletionProviderManager],
  optional: [ISettingRegistry, INotebookTracker],
  activate: (
    app: JupyterFrontEnd,
    manager: ICompletionProviderManager,
    settingRegistry: ISettingRegistry | null,
    notebooks: INotebookTracker | null
  ): void => {
    if (typeof manager.registerInlineProvider !== 'function') {
      console.warn('qwen-magic: inline completion needs JupyterLab ≥ 4.1 or Notebook ≥ 7.1');
      return;
    }
    const provider = new QwenInlineProvider();
    manager.registerInlineProvider(provider);
    // After a cell runs, the kernel may read the grown notebook while it is idle.
    NotebookActions.executed.connect((_, { notebook, cell }) => {
      const panel = notebook.parent;
      if (panel instanceof NotebookPanel) {
        provider.prefillAfter(panel, cell);
      }
    });
    // While the user types in a notebook's code cell, the kernel may read the typed text.
    if (notebooks) {
      let watched: INotebookTracker['activeCell'] = null;
      const onContent = () => {
        const panel = notebooks.currentWidget;
        if (panel && watched?.model.type === 'code' && panel.content.activeCell === watched) {
          provider.readAhead(panel);
        }
      };
      notebooks.activeCellChanged.connect((_, cell) => {
        watched?.model.contentChanged.disconnect(onContent);
        watched = cell;
        cell?.model.contentChanged.connect(onContent);
      });
    }

    if (settingRegistry) {
      settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          const update = () => {
            const maxTokens = settings.get('maxTokens').composite;
            provider.maxTokens = typeof maxTokens === 'number' && maxTokens > 0 ? maxTokens : null;
          };
          update();
          settings.changed.connect(update);
        })
        .catch(reason => {
          console.warn("qwen-magic: could not load the settings; the kernel's maxTokens applies", reason);
        });
    }
  }
};

export default plugin;
