// Accessibility repair for docutils' bibliography markup (issue 12; book/_static is loaded on
// every page). The citation list has role="list" and its entries role="doc-biblioentry", a role
// DPUB-ARIA 1.1 deprecated: screen readers and axe-core (aria-required-children) then find no
// list items in the list. The entries are list items of the bibliography: say so.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll('[role="list"].citation-list > [role="doc-biblioentry"]').forEach(function (el) {
    el.setAttribute("role", "listitem");
  });
});
