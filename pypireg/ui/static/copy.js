// Copy buttons: the text to copy is in the button's data-copy attribute. They are hidden
// in the page and shown here, so that a browser without JavaScript shows none; what was
// copied is announced to screen readers through the page's live region.
document.querySelectorAll("button.copy").forEach(function (button) { button.hidden = false; });
document.addEventListener("click", function (event) {
  var button = event.target.closest("button.copy");
  if (!button) return;
  var text = button.getAttribute("data-copy");
  var done = function () {
    button.textContent = "Copied";
    var announce = document.querySelector(".announce");
    if (announce) announce.textContent = "Copied to the clipboard";
    setTimeout(function () {
      button.textContent = "Copy";
      if (announce) announce.textContent = "";
    }, 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done);
  } else {
    var area = document.createElement("textarea");
    area.value = text;
    document.body.appendChild(area);
    area.select();
    document.execCommand("copy");
    document.body.removeChild(area);
    done();
  }
});
