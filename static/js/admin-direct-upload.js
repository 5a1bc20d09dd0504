// The product admin's direct picture upload (only rendered when the media storage is S3):
// 1. POST the uploads API for a presigned POST (session cookie + CSRF token, as the admin form),
// 2. POST the file straight to S3 with XMLHttpRequest, showing its upload progress,
// 3. POST complete, which checks the stored file and makes it the product's next picture.
// Any failure is shown beside the file; the inline's own file field keeps working.
(function () {
  "use strict";

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function api(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          throw new Error((data && data.error && data.error.message) || "HTTP " + response.status);  // the API's one error shape
        }
        return data;
      });
    });
  }

  function sendToStorage(ticket, file, bar) {
    return new Promise(function (resolve, reject) {
      var form = new FormData();
      Object.keys(ticket.fields).forEach(function (name) { form.append(name, ticket.fields[name]); });
      form.append("file", file);  // last: S3 ignores fields after the file
      var xhr = new XMLHttpRequest();
      xhr.open("POST", ticket.url);
      xhr.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) { bar.max = event.total; bar.value = event.loaded; }
      });
      xhr.addEventListener("load", function () {
        if (xhr.status >= 200 && xhr.status < 300) { resolve(); }
        else { reject(new Error("storage refused the file (HTTP " + xhr.status + ")")); }
      });
      xhr.addEventListener("error", function () { reject(new Error("the upload to storage failed")); });
      xhr.send(form);
    });
  }

  function uploadOne(box, file, alt, list) {
    var item = document.createElement("li");
    var label = document.createElement("span");
    var bar = document.createElement("progress");
    label.textContent = file.name + " ";
    bar.max = file.size || 1;
    bar.value = 0;
    item.appendChild(label);
    item.appendChild(bar);
    list.appendChild(item);
    var status = function (text) { label.textContent = file.name + ": " + text + " "; };
    return api(box.dataset.startUrl, { content_type: file.type, alt_text: alt })
      .then(function (ticket) {
        if (file.size > ticket.max_bytes) { throw new Error("larger than " + ticket.max_bytes + " bytes"); }
        status("uploading");
        return sendToStorage(ticket, file, bar).then(function () { return ticket; });
      })
      .then(function (ticket) {
        status("checking");
        return api(box.dataset.completeUrl.replace("{upload_id}", ticket.upload_id));
      })
      .then(function (image) {
        bar.value = bar.max;
        status("added as picture " + image.id + " (thumbnails follow; reload the page to see it in the list)");
      })
      .catch(function (error) { status("not uploaded: " + error.message); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("direct-image-upload");
    if (!box || !window.fetch || !window.FormData) { return; }
    var input = document.getElementById("direct-image-files");
    var alt = document.getElementById("direct-image-alt");
    var list = document.getElementById("direct-image-progress");
    document.getElementById("direct-image-start").addEventListener("click", function () {
      var files = Array.prototype.slice.call(input.files || []);
      files.reduce(function (previous, file) {
        return previous.then(function () { return uploadOne(box, file, alt.value, list); });
      }, Promise.resolve()).then(function () { input.value = ""; });
    });
  });
})();
