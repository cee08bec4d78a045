/* Admin "add A/B test": the version lists show only the chosen machine's versions. */
(function () {
  "use strict";
  function setup() {
    var machine = document.getElementById("id_machine");
    if (!machine) return;
    var lists = document.querySelectorAll("select[data-versions-of=machine]");
    function filter() {
      var chosen = machine.options[machine.selectedIndex];
      var name = chosen && chosen.value ? chosen.text : null;
      lists.forEach(function (list) {
        Array.prototype.forEach.call(list.options, function (option) {
          if (!option.value) return;
          var show = !name || option.text.indexOf(name + " · ") === 0;
          option.hidden = !show;
          option.disabled = !show;
          if (!show && option.selected) list.value = "";
        });
      });
    }
    machine.addEventListener("change", filter);
    filter();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
