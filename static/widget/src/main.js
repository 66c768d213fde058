// Entry point of static/widget/chatplatform.js: find our <script data-bot>, build the widget, publish
// window.ChatPlatform and boot once <body> exists. Embedding and API: docs/widget.md.
'use strict';
import { createWidget } from './ui.js';

const main = () => {
  const W = window, D = document;
  const prior = W.ChatPlatform;
  if (prior && prior.version) return; // the tag was included twice

  const script = D.currentScript ||
    Array.from(D.querySelectorAll('script[src][data-bot]')).find((s) => /chatplatform[\w.-]*\.js([?#]|$)/.test(s.src));
  const KEY = script && script.dataset.bot;
  if (!KEY) { console.warn('[chatplatform] <script data-bot="PUBLIC_KEY"> is missing'); return; }
  const ds = script.dataset;
  const ORIGIN = new URL(ds.server || script.src, location.href).origin;
  const WS_URL = ORIGIN.replace(/^http/, 'ws') + '/ws/chat/' + encodeURIComponent(KEY) + '/';

  const queued = (prior && Array.isArray(prior.q)) ? prior.q : [];
  const { api, boot } = createWidget({ key: KEY, ds, wsUrl: WS_URL, queued });
  W.ChatPlatform = api;
  if (D.body) boot(); else D.addEventListener('DOMContentLoaded', boot);
};
main();
