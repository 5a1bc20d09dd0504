/* Suggestions as you type in the header search box: a small JSON endpoint (/search/suggest/),
   asked at most every 150 ms. Progressive enhancement: without JavaScript the box is a plain
   GET form. No framework, no build step. */
(function () {
  "use strict";
  var form = document.querySelector("form.search-box[data-suggest-url]");
  if (!form || !window.fetch) {
    return;
  }
  var input = form.querySelector("input[name=q]");
  var list = form.querySelector(".search-suggestions");
  var timer = null;
  var latest = 0;
  var active = -1;

  function close() {
    list.hidden = true;
    list.textContent = "";
    input.setAttribute("aria-expanded", "false");
    active = -1;
  }

  function option(text, href, extraClass) {
    var item = document.createElement("li");
    item.setAttribute("role", "option");
    var link = document.createElement("a");
    link.href = href;
    link.textContent = text; // text only: never HTML from the server
    if (extraClass) {
      item.className = extraClass;
    }
    item.appendChild(link);
    return item;
  }

  function show(data) {
    list.textContent = "";
    if (data.suggestion) {
      list.appendChild(option("Did you mean: " + data.suggestion, form.action + "?q=" + encodeURIComponent(data.suggestion), "search-suggestion-correction"));
    }
    (data.products || []).forEach(function (product) {
      list.appendChild(option(product.title, product.url));
    });
    if (!list.children.length) {
      close();
      return;
    }
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    active = -1;
  }

  function ask() {
    var query = input.value.trim();
    if (query.length < 2) {
      close();
      return;
    }
    var ticket = ++latest;
    fetch(form.dataset.suggestUrl + "?q=" + encodeURIComponent(query), { headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && ticket === latest) { // an older, slower answer never replaces a newer one
          show(data);
        }
      })
      .catch(close);
  }

  function move(step) {
    var items = list.querySelectorAll("li");
    if (!items.length) {
      return;
    }
    active = (active + step + items.length) % items.length;
    items.forEach(function (item, i) { item.classList.toggle("active", i === active); });
    items[active].querySelector("a").focus();
    input.focus();
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(ask, 150);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "ArrowDown") { event.preventDefault(); move(1); }
    else if (event.key === "ArrowUp") { event.preventDefault(); move(-1); }
    else if (event.key === "Escape") { close(); }
    else if (event.key === "Enter" && active >= 0) {
      event.preventDefault();
      window.location.href = list.querySelectorAll("li a")[active].href;
    }
  });
  document.addEventListener("click", function (event) {
    if (!form.contains(event.target)) { close(); }
  });

  // Results page: filters apply as soon as a box is ticked.
  var filters = document.querySelector("form[data-search-filters]");
  if (filters) {
    filters.addEventListener("change", function (event) {
      if (event.target.type === "checkbox") { filters.submit(); }
    });
  }
})();
