/* Fleet overview: filters apply as soon as a value is picked (the Filter button stays for
   keyboards and browsers without JavaScript), empty filters stay out of the URL; times are
   localized by common.js. */
(function () {
  "use strict";
  var form = document.getElementById("fleet-filters");
  if (!form) return;

  function dropEmpty() {
    form.querySelectorAll("select, input[type=hidden]").forEach(function (field) {
      if (!field.value) field.disabled = true;
    });
  }

  form.addEventListener("submit", dropEmpty);
  form.querySelectorAll("select").forEach(function (select) {
    select.addEventListener("change", function () {
      dropEmpty();
      form.submit();
    });
  });
})();
