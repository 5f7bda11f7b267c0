const canvas = element.querySelector('canvas');
const ctx = canvas.getContext('2d');
let last = null, sent = null, width = props.brush;
const widthPick = element.querySelector('select.stroke');
if (widthPick) {
  widthPick.value = String(props.brush);
  widthPick.addEventListener('change', () => { width = parseInt(widthPick.value, 10) || props.brush; });
}
canvas.setAttribute('aria-label', props.caption + ' (draw with the mouse, a pen or a finger)');
function blank() { ctx.fillStyle = '#ffffff'; ctx.fillRect(0, 0, canvas.width, canvas.height); }
function load() {
  if (props.value === sent) return;  // our own stroke coming back
  blank();
  if (props.value) { const img = new Image(); img.onload = () => ctx.drawImage(img, 0, 0); img.src = props.value; }
}
function at(e) {
  const b = canvas.getBoundingClientRect();
  return [(e.clientX - b.left) / b.width * canvas.width, (e.clientY - b.top) / b.height * canvas.height];
}
function line(a, b) {
  ctx.strokeStyle = '#000000';
  ctx.lineWidth = width;
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
}
canvas.addEventListener('pointerdown', e => {
  if (e.button > 0) return;
  canvas.setPointerCapture(e.pointerId);
  last = at(e);
  line(last, last);
});
canvas.addEventListener('pointermove', e => { if (last) { const p = at(e); line(last, p); last = p; } });
const end = () => {
  if (!last) return;
  last = null;
  sent = canvas.toDataURL('image/png');
  props.value = sent;
};
canvas.addEventListener('pointerup', end);
canvas.addEventListener('pointercancel', end);
element.querySelector('button.clear').addEventListener('click', () => { blank(); sent = null; props.value = null; });
watch('value', load);
blank();
load();
