/* Live status of an order that is settling (placed, waiting for the stock worker): ask the server
   every 2 s and reload the page when the state changes, so the customer sees the result without
   pressing anything. Without JavaScript a <noscript> meta refresh does the same, more slowly.
   After 5 minutes it asks every 15 s instead (the workers may be catching up). No build step. */
(function () {
  "use strict";
  var element = document.querySelector("[data-order-status-url]");
  if (!element || !window.fetch) {
    return;
  }
  var url = element.getAttribute("data-order-status-url");
  var state = element.getAttribute("data-order-state");
  var FAST = 2000;
  var SLOW = 15000;
  var SLOW_AFTER = 5 * 60 * 1000;
  var started = Date.now();

  function next() {
    window.setTimeout(poll, Date.now() - started > SLOW_AFTER ? SLOW : FAST);
  }

  function poll() {
    if (document.hidden) {
      next(); // nobody is looking: check again later
      return;
    }
    fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("status " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (data.state !== state) {
          window.location.reload();
        } else {
          next();
        }
      })
      .catch(next);
  }

  next();
})();
