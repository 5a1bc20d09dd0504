/* Add to cart without leaving the page: progressive enhancement of forms marked data-cart-add.
   Without JavaScript (or when anything goes wrong here) the form posts normally and the server
   redirects with a message. No framework, no build step. */
(function () {
  "use strict";
  if (!window.fetch || !window.FormData) {
    return;
  }

  function statusOf(form) {
    return form.querySelector("[data-cart-status]");
  }

  function say(form, text, isError) {
    var status = statusOf(form);
    if (!status) {
      return;
    }
    status.textContent = text;
    status.classList.toggle("cart-status-error", Boolean(isError));
  }

  function updateCounts(count) {
    document.querySelectorAll(".cart-count").forEach(function (element) {
      element.textContent = String(count);
    });
  }

  function fallBack(form) {
    form.dataset.cartSubmitting = "native";
    HTMLFormElement.prototype.submit.call(form); // a plain POST; does not fire submit again
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-cart-add")) {
      return;
    }
    if (form.dataset.cartSubmitting) {
      event.preventDefault(); // one request at a time per form
      return;
    }
    event.preventDefault();
    var data = new FormData(form);
    var token = data.get("csrfmiddlewaretoken");
    var button = form.querySelector("button[type=submit]");
    form.dataset.cartSubmitting = "fetch";
    if (button) {
      button.disabled = true;
    }
    say(form, "Adding…", false);

    fetch(form.action, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch", "X-CSRFToken": token || "", Accept: "application/json" },
    })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (type.indexOf("application/json") === -1) {
          throw new Error("not json");
        }
        return response.json().then(function (body) {
          if (response.ok && typeof body.cart_count === "number") {
            updateCounts(body.cart_count);
            say(form, body.message || "Added to your cart.", false);
            return;
          }
          if (response.status >= 400 && response.status < 500 && response.status !== 403 && body.error && body.error.message) {
            say(form, body.error.message, true); // the server refused and said why: nothing to resend
            return;
          }
          throw new Error("unexpected answer");
        });
      })
      .then(function () {
        delete form.dataset.cartSubmitting;
        if (button) {
          button.disabled = false;
        }
      })
      .catch(function () {
        if (button) {
          button.disabled = false;
        }
        fallBack(form); // network error, a 403 (CSRF), a 5xx, an HTML page: let the browser post it
      });
  });
})();
