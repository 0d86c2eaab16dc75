// Make require.js resolve modules from this folder, so that the widget manager
// (embed-amd.js) finds its icon fonts under ./@jupyter-widgets/html-manager/dist/
// on every page, offline, whatever the page's depth in the site.
(function () {
  var src = document.currentScript.src;
  window.require.config({ baseUrl: src.slice(0, src.lastIndexOf("/") + 1) });
})();
