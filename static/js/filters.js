/* The listing filters sit in a <details> ("Filter"), closed on phones so the products come first.
   On wide screens the panel is simply open (CSS does it where ::details-content is supported;
   this does it everywhere else). Without JavaScript the disclosure still works. */
(function () {
  "use strict";
  if (!window.matchMedia) {
    return;
  }
  var wide = window.matchMedia("(min-width: 900px)");
  function openWhenWide() {
    if (!wide.matches) {
      return;
    }
    document.querySelectorAll("[data-filters-panel]").forEach(function (panel) {
      panel.open = true;
    });
  }
  openWhenWide();
  if (wide.addEventListener) {
    wide.addEventListener("change", openWhenWide);
  }
})();
