// A slider's number box shows the value that will be used. Gradio's box kept a typed 40 on screen while the
// slider (and the request) used its maximum, 16, and an emptied box silently became the minimum. Before Gradio
// reads the box (Enter, or leaving it), an out-of-range number is set to the nearest end of the range and an
// empty box gets the slider's current value back. Fractions are left for the server to refuse by name.
() => {
  const before = new WeakMap(); // box -> the slider's value when the box was emptied (Gradio moves it at once)
  const rangeOf = (box) => box.closest('.block')?.querySelector('input[type=range]');
  const remember = (event) => {
    const box = event.target;
    if (!(box instanceof HTMLInputElement) || box.type !== 'number' || !rangeOf(box)) return;
    if (box.value.trim() !== '') before.delete(box);
    else if (!before.has(box)) before.set(box, rangeOf(box).value);
  };
  const settle = (event) => {
    const box = event.target;
    if (!(box instanceof HTMLInputElement) || box.type !== 'number') return;
    if (event.type === 'keydown' && event.key !== 'Enter') return;
    const range = rangeOf(box);
    if (!range) return;
    const low = Number(range.min), high = Number(range.max);
    const typed = box.value.trim() === '' ? NaN : Number(box.value);
    const settled = Number.isNaN(typed) ? Number(before.get(box) ?? range.value) : Math.min(high, Math.max(low, typed));
    before.delete(box);
    if (settled !== typed) {
      box.value = String(settled);
      box.dispatchEvent(new Event('input', { bubbles: true }));
    }
  };
  // capturing: these run before Gradio's own handlers on the box
  document.addEventListener('input', remember, true);
  document.addEventListener('keydown', settle, true);
  document.addEventListener('blur', settle, true); // blur comes before focusout, and Gradio clamps on blur
}
