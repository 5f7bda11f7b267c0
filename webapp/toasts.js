// One message on screen at a time. Gradio 6 keeps every toast until its timer runs out and groups a kind's
// messages into one ("Error (3)", all three listed), so old errors stayed beside the new one. As soon as a new
// message appears, every other message and toast is marked superseded (hidden by app.css); their own timers
// still remove them.
() => {
  const supersede = (newest) => {
    for (const item of document.querySelectorAll('.toast-message-item')) {
      item.classList.toggle('superseded', item !== newest);
    }
    for (const toast of document.querySelectorAll('.toast-item')) {
      toast.classList.toggle('superseded', !toast.contains(newest));
    }
  };
  new MutationObserver((records) => {
    let newest = null;
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.nodeType !== Node.ELEMENT_NODE) continue;
        const items = node.matches('.toast-message-item') ? [node] : node.querySelectorAll('.toast-message-item');
        if (items.length) newest = items[items.length - 1];
      }
    }
    if (newest) supersede(newest);
  }).observe(document.body, { childList: true, subtree: true });
}
