// The console's only script: the GB 11643 check digit as the clerk types (the server
// checks again with padctl.window), the agent fields shown only in an agent case, and
// the receipt's print button.
(function () {
  "use strict";
  var W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], C = "10X98765432";
  function checkDigit(first17) {
    var s = 0;
    for (var i = 0; i < 17; i++) s += (first17.charCodeAt(i) - 48) * W[i];
    return C.charAt(s % 11);
  }
  var form = document.getElementById("window-form");
  if (form) {
    var numbered = (form.dataset.numbered || "").split(" ");
    ["holder", "agent"].forEach(function (who) {
      var type = document.getElementById(who + "-type"),
          num = document.getElementById(who + "-number"),
          hint = document.getElementById(who + "-hint");
      function check() {
        var v = num.value.trim().toUpperCase(), msg = "", bad = false;
        if (numbered.indexOf(type.value) >= 0 && /^\d{17}[\dX]$/.test(v)) {
          var want = checkDigit(v.slice(0, 17));
          bad = v.charAt(17) !== want;
          msg = bad ? form.dataset.msgWrong + " (" + form.dataset.msgExpected + " " + want + ")"
                    : form.dataset.msgOk;
        }
        hint.textContent = msg;
        hint.className = "hint" + (bad ? " bad" : (msg ? " good" : ""));
        num.setAttribute("aria-invalid", bad ? "true" : "false");
      }
      num.addEventListener("input", check);
      type.addEventListener("change", check);
      check();
    });
    var agent = document.getElementById("agent"), box = document.getElementById("agent-doc");
    var show = function () { box.classList.toggle("off", !agent.checked); };
    agent.addEventListener("change", show);
    show();
  }
  var p = document.getElementById("print");
  if (p) p.addEventListener("click", function () { window.print(); });
})();
