const canvas = element.querySelector('canvas');
const ctx = canvas.getContext('2d');
const brushPick = element.querySelector('select.brush');
canvas.tabIndex = 0;  // keyboard: arrows move the focus patch, space or enter toggles the brush there
canvas.setAttribute('role', 'grid');
canvas.setAttribute('aria-label', props.caption + ' (keyboard: arrow keys move, space toggles)');
let brush = 1;  // the brush covers brush x brush patches, the cell under the pointer at its centre (2: its top-left)
if (brushPick) brushPick.addEventListener('change', () => { brush = parseInt(brushPick.value, 10) || 1; draw(); });
function block(i) {  // the patches the brush covers at cell i
  const r0 = Math.floor(i / grid[1]) - Math.floor((brush - 1) / 2), c0 = (i % grid[1]) - Math.floor((brush - 1) / 2);
  const out = [];
  for (let r = Math.max(0, r0); r < Math.min(grid[0], r0 + brush); r++)
    for (let c = Math.max(0, c0); c < Math.min(grid[1], c0 + brush); c++) out.push(r * grid[1] + c);
  return out;
}
const img = new Image();
let grid = [1, 1], mask = [], hover = -1, mode = null, dirty = false;
// the canvas draws at the size it is shown (times the screen's pixel ratio), with the picture's aspect ratio once
// it is decoded: drawn at props.px and scaled down by the page (a phone), its 1-pixel grid lines were dropped
function fit() {
  const w = Math.max(1, Math.round((canvas.clientWidth || props.px) * (window.devicePixelRatio || 1)));
  const ratio = img.complete && img.naturalWidth ? img.naturalHeight / img.naturalWidth : grid[0] / grid[1];
  if (canvas.width !== w) canvas.width = w;
  const h = Math.max(1, Math.round(w * ratio));
  if (canvas.height !== h) canvas.height = h;
}
img.onload = () => { fit(); draw(); };
new ResizeObserver(() => { fit(); draw(); }).observe(canvas);
function draw() {
  const W = canvas.width, H = canvas.height, cw = W / grid[1], ch = H / grid[0];
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = '#808080';
  ctx.fillRect(0, 0, W, H);
  if (img.complete && img.naturalWidth) ctx.drawImage(img, 0, 0, W, H);
  ctx.fillStyle = props.color;
  mask.forEach((m, i) => { if (m) ctx.fillRect((i % grid[1]) * cw, Math.floor(i / grid[1]) * ch, cw, ch); });
  ctx.strokeStyle = 'rgba(70, 130, 255, 0.8)';
  ctx.lineWidth = 1;
  ctx.beginPath();
  const at = (k, step, end) => Math.min(end - 0.5, Math.round(k * step) + 0.5);  // crisp 1-pixel lines
  for (let c = 0; c <= grid[1]; c++) { const x = at(c, cw, W); ctx.moveTo(x, 0); ctx.lineTo(x, H); }
  for (let r = 0; r <= grid[0]; r++) { const y = at(r, ch, H); ctx.moveTo(0, y); ctx.lineTo(W, y); }
  ctx.stroke();
  if (hover >= 0) {  // the patches a stroke here selects
    ctx.strokeStyle = '#ffd23f';
    ctx.lineWidth = 3;
    block(hover).forEach(j =>
      ctx.strokeRect((j % grid[1]) * cw + 1.5, Math.floor(j / grid[1]) * ch + 1.5, cw - 3, ch - 3));
  }
}
function load() {
  const v = props.value;
  if (!v) return;
  grid = v.grid;
  mask = v.mask.slice();
  if (!v.image) img.removeAttribute('src');
  else if (img.src !== v.image) img.src = v.image;  // a stroke's own value keeps the picture: no reload
  fit();
  draw();
}
function cell(e) {
  const b = canvas.getBoundingClientRect();
  const c = Math.min(grid[1] - 1, Math.max(0, Math.floor((e.clientX - b.left) / b.width * grid[1])));
  const r = Math.min(grid[0] - 1, Math.max(0, Math.floor((e.clientY - b.top) / b.height * grid[0])));
  return r * grid[1] + c;
}
function paint(i) {
  block(i).forEach(j => { if (mask[j] !== mode) { mask[j] = mode; dirty = true; } });
}
canvas.addEventListener('pointerdown', e => {
  if (!props.value || e.button > 0) return;
  canvas.setPointerCapture(e.pointerId);
  hover = cell(e);
  mode = mask[hover] ? 0 : 1;
  paint(hover);
  draw();
});
canvas.addEventListener('pointermove', e => {
  if (!props.value) return;
  hover = cell(e);
  if (mode !== null) paint(hover);
  draw();
});
canvas.addEventListener('pointerleave', () => { if (mode === null) { hover = -1; draw(); } });
const end = () => {
  if (mode === null) return;
  mode = null;
  if (dirty) {  // a new value makes Gradio send the change event
    dirty = false;
    props.value = {...props.value, mask: mask.slice()};
  }
};
canvas.addEventListener('pointerup', end);
canvas.addEventListener('keydown', e => {
  if (!props.value) return;
  const moves = {ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0]};
  if (hover < 0) hover = 0;
  let r = Math.floor(hover / grid[1]), c = hover % grid[1];
  if (e.key in moves) {
    r = Math.min(grid[0] - 1, Math.max(0, r + moves[e.key][0]));
    c = Math.min(grid[1] - 1, Math.max(0, c + moves[e.key][1]));
    hover = r * grid[1] + c;
  } else if (e.key === ' ' || e.key === 'Enter') {
    mode = mask[hover] ? 0 : 1;
    paint(hover);
    end();
  } else return;
  e.preventDefault();
  canvas.setAttribute('aria-label', `${props.caption}: patch row ${r + 1}, column ${c + 1}, ` +
                      (mask[hover] ? 'selected' : 'not selected'));
  draw();
});
canvas.addEventListener('focus', () => { if (hover < 0) { hover = 0; draw(); } });
canvas.addEventListener('pointercancel', end);
watch('value', load);
load();
