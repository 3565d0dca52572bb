// A canvas to write a digit on with a mouse, pen or finger (pointer events): dark ink on white paper.

const INK_WIDTH = 0.07; // of the canvas' width: about an MNIST stroke once the digit fills 20 of 28 pixels

export function createPad(canvas, onStroke) {
  const context = canvas.getContext("2d");
  let drawing = false;

  function clear() {
    context.fillStyle = "#fff";
    context.fillRect(0, 0, canvas.width, canvas.height);
  }

  function point(event) {
    const box = canvas.getBoundingClientRect();
    return [
      ((event.clientX - box.left) * canvas.width) / box.width,
      ((event.clientY - box.top) * canvas.height) / box.height,
    ];
  }

  canvas.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    drawing = true;
    context.lineWidth = INK_WIDTH * canvas.width;
    context.lineCap = "round";
    context.lineJoin = "round";
    context.strokeStyle = "#000";
    context.beginPath();
    context.moveTo(...point(event));
    context.lineTo(...point(event)); // a tap leaves a dot
    context.stroke();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    context.lineTo(...point(event));
    context.stroke();
  });
  for (const type of ["pointerup", "pointercancel"]) {
    canvas.addEventListener(type, () => {
      if (!drawing) return;
      drawing = false;
      onStroke();
    });
  }

  clear();
  return {
    clear,
    toFile: () =>
      new Promise((resolve) =>
        canvas.toBlob((blob) => resolve(new File([blob], "drawing.png", { type: "image/png" })), "image/png"),
      ),
  };
}
