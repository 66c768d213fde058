// UI strings (en, zh-hans) and language choice. Add a language: a table entry and a line in pickLang.
// The build keeps this table's source text verbatim in the bundle (see ../build.mjs).

export const STR = {
  en: {
    open: 'Open chat', close: 'Close chat', unread: '{n} unread', title: 'Chat', send: 'Send',
    placeholder: 'Write a message…', menu: 'More options', newConv: 'New conversation', endChat: 'End chat',
    online: 'Online', connecting: 'Connecting…', offline: 'Offline, reconnecting…', sending: 'Sending…',
    failed: 'Not sent.', retry: 'Retry', typing: '{name} is typing…', you: 'You', bot: 'Assistant',
    up: 'Helpful', down: 'Not helpful', sources: 'Sources', dismiss: 'Dismiss',
    csatQ: 'How would you rate this conversation?', star: '{n} of 5 stars', csatThanks: 'Thanks for your feedback!',
    rate_limited: "You're sending messages too fast. Please wait a moment.",
    message_too_long: 'That message is too long. Please shorten it.',
    too_large: 'That message is too long. Please shorten it.',
    reply_failed: "Sorry, I couldn't answer that. Please try again.",
    identity_required: 'Please sign in to chat.', unavailable: 'Chat is not available right now.',
    retrying: 'Reconnecting…', busy: 'Chat is busy right now. Your message will be sent in a moment.',
    generic: 'Something went wrong. Please try again.',
    agent: 'Support agent', team: 'The team',
    hQueued: "You're in line{wait}.", hQueuedAt: "You're number {position} in line{wait}.", hWait: ' (about {n} min)',
    hAssigned: '{name} joined the chat.', hBot: "You're back with the assistant.",
    hResolved: '{name} closed this chat. Send a message to start again.',
    hOffline: "No one is available right now. Leave a message and we'll reply by e-mail.",
    tkTitle: 'Leave a message', tkName: 'Name', tkEmail: 'E-mail', tkMsg: 'Message',
    tkThanks: "Thanks — we'll get back to you by e-mail.",
  },
  'zh-hans': {
    open: '打开聊天', close: '关闭聊天', unread: '{n} 条未读', title: '在线客服', send: '发送',
    placeholder: '输入消息…', menu: '更多选项', newConv: '新对话', endChat: '结束对话',
    online: '在线', connecting: '正在连接…', offline: '已离线，正在重新连接…', sending: '发送中…',
    failed: '发送失败。', retry: '重试', typing: '{name} 正在输入…', you: '你', bot: '助手',
    up: '有帮助', down: '没有帮助', sources: '来源', dismiss: '关闭提示',
    csatQ: '你对本次对话满意吗？', star: '{n} 星（满分 5 星）', csatThanks: '感谢你的反馈！',
    rate_limited: '发送太快了，请稍等片刻。', message_too_long: '消息太长，请缩短后再发送。',
    too_large: '消息太长，请缩短后再发送。', reply_failed: '抱歉，暂时无法回答，请重试。',
    identity_required: '请先登录再聊天。', unavailable: '聊天服务暂不可用。', generic: '出了点问题，请重试。',
    retrying: '正在重新连接…', busy: '聊天服务繁忙，消息稍后会自动发送。',
    agent: '人工客服', team: '客服团队',
    hQueued: '你正在排队{wait}。', hQueuedAt: '你排在第 {position} 位{wait}。', hWait: '（预计约 {n} 分钟）',
    hAssigned: '{name} 已加入对话。', hBot: '已回到智能助手。',
    hResolved: '{name} 已结束本次对话。发送消息即可重新开始。',
    hOffline: '现在没有客服在线，请留言，我们会通过邮件回复你。',
    tkTitle: '留言', tkName: '姓名', tkEmail: '电子邮件', tkMsg: '内容',
    tkThanks: '谢谢！我们会通过邮件回复你。',
  },
};

/** `data-locale` or the bot's `language` (`auto` = the browser's) -> `en` | `zh-hans`. */
export const pickLang = (l, nav = globalThis.navigator) => {
  l = String(l || '').toLowerCase();
  if (!l || l === 'auto') l = String((nav && nav.languages && nav.languages[0]) || (nav && nav.language) || 'en').toLowerCase();
  return l.startsWith('zh') ? 'zh-hans' : 'en';
};

/** The string `k` in `lang` (falling back to English, then to the key), with `{name}` placeholders filled. */
export const translate = (lang, k, vars) => {
  let s = (STR[lang] && STR[lang][k]) || STR.en[k] || k;
  // a function, so that "$&" in a value (an agent's name) is not a replacement pattern
  for (const v in vars || {}) s = s.replace('{' + v + '}', () => vars[v]);
  return s;
};
