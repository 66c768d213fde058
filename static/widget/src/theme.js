// Theme: the bot's colour -> CSS variables with WCAG contrast (text on it white or near-black,
// accent darkened until 4.5:1 on white).

export const rgbOf = (c) => {
  const m = /^#?([0-9a-f]{6}|[0-9a-f]{3})$/i.exec(String(c || '').trim());
  if (!m) return null;
  const s = m[1].length === 3 ? m[1].replace(/./g, '$&$&') : m[1];
  return [0, 2, 4].map((i) => parseInt(s.substr(i, 2), 16));
};
export const lum = (rgb) => rgb.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
  .reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
export const ratio = (a, b) => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
export const hex = (rgb) => '#' + rgb.map((v) => Math.round(v).toString(16).padStart(2, '0')).join('');
export const DARK = [17, 24, 39];
export const DEFAULT_RGB = [37, 99, 235];

/** {c, fg, acc} for a `#rrggbb` / `#rgb` colour (the default blue when it does not parse). */
export const themeColors = (color) => {
  const rgb = rgbOf(color) || DEFAULT_RGB, L = lum(rgb);
  const fg = ratio(L, 1) >= ratio(L, lum(DARK)) ? '#ffffff' : hex(DARK);
  let acc = rgb; // accent for text/icons on white: darken until it reaches 4.5:1
  while (ratio(lum(acc), 1) < 4.5) acc = acc.map((v) => v * 0.9);
  return { c: hex(rgb), fg, acc: hex(acc) };
};

/** Sets --c, --fg and --acc on `el`. */
export const applyTheme = (el, color) => {
  const { c, fg, acc } = themeColors(color), st = el.style;
  st.setProperty('--c', c); st.setProperty('--fg', fg); st.setProperty('--acc', acc);
};
