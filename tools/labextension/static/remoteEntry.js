// optbook-lab: a JupyterLab 4 federated extension written by hand (no build step, no
// dependencies). JupyterLab loads this script, calls init(shareScope) and get('./extension') on
// the container it registers, and activates the plugin that module exports. See ../README.md.
(function () {
  'use strict';
  var NAME = 'optbook-lab';
  var script = document.currentScript && document.currentScript.src;
  var DATA_URL = script ? script.replace(/remoteEntry\.js(\?.*)?$/, 'book.json') : null;
  var data = null;
  var app = null;
  var MARK = 'data-optbook';
  var SCOPE = '.jp-NotebookPanel .jp-MarkdownCell';

  function setText(el, text) {
    // Change the text nodes React rendered (never replace them), so that React's later updates
    // still find them: the first one gets the text, the others (React may split "(", "2", ")")
    // are emptied.
    var done = false;
    for (var n = el.firstChild; n; n = n.nextSibling) {
      if (n.nodeType !== 3) continue;
      if (!done && n.nodeValue.trim()) {
        if (n.nodeValue !== text) n.nodeValue = text;
        done = true;
      } else if (done && n.nodeValue) {
        n.nodeValue = '';
      }
    }
    if (!done) el.appendChild(document.createTextNode(text));
  }

  function unwarn(el, title) {
    el.querySelectorAll('svg').forEach(function (svg) { svg.style.display = 'none'; });
    el.classList.remove('text-yellow-600');
    el.setAttribute('title', title);
    el.setAttribute(MARK, 'fixed');
  }

  function fixCitations(root) {
    root.querySelectorAll(SCOPE + ' .cite-group').forEach(function (group) {
      var items = Array.prototype.slice.call(group.children).filter(function (e) {
        return e.getAttribute('title') === 'Citation Not Found' || e.getAttribute(MARK + '-key');
      });
      if (!items.length) return;
      var keys = items.map(function (e) {
        var k = e.getAttribute(MARK + '-key') || e.textContent.trim();
        e.setAttribute(MARK + '-key', k);
        return k;
      });
      if (!keys.every(function (k) { return data.citations[k]; })) return; // stays visibly unresolved
      var narrative = group.classList.contains('narrative');
      keys.forEach(function (k, i) {
        var c = data.citations[k];
        var text = narrative ? c.author + ' [' + c.year + ']' : c.author + ', ' + c.year;
        if (i > 0) text = '; ' + text;
        if (!narrative && i === 0) text = '[' + text;
        if (!narrative && i === keys.length - 1) text = text + ']';
        setText(items[i], text);
        unwarn(items[i], c.author + ' ' + c.year + ' (see the book\u2019s bibliography)');
      });
    });
  }

  function fixCrossReferences(root) {
    root.querySelectorAll(SCOPE + ' [title="Cross Reference Not Found"], ' + SCOPE + ' [' + MARK + '-label]')
      .forEach(function (el) {
        var label = el.getAttribute(MARK + '-label') || el.textContent.trim();
        var target = data.labels[label];
        if (!target) return;
        el.setAttribute(MARK + '-label', label);
        setText(el, target.text);
        unwarn(el, target.kind === 'figure' ? 'Figure ' + target.number : target.text);
      });
    // Equation numbers and {eq} links: the book's numbers instead of the notebook's own count.
    // MyST also numbers unlabelled display equations (their id is a random 10-character key),
    // which the book leaves unnumbered: those numbers are hidden.
    root.querySelectorAll(SCOPE + ' a[href^="#"]').forEach(function (a) {
      var id = decodeURIComponent(a.getAttribute('href').slice(1));
      var target = data.labels[id];
      var numbered = /^\(\d+(\.\d+)*\)$/.test(a.textContent.trim());
      if (target && target.kind === 'equation' && numbered) {
        setText(a, target.text);
      } else if (!target && numbered && a.getAttribute('title') === 'Link to this Equation' &&
                 /^[A-Za-z0-9]{10}$/.test(id)) {
        a.hidden = true;
      }
    });
  }

  function panelOf(el) {
    if (!app) return null;
    for (const widget of app.shell.widgets('main')) {
      if (widget.node && widget.node.contains(el)) return widget;
    }
    return null;
  }

  function fixGlue(root) {
    root.querySelectorAll(SCOPE + ' details').forEach(function (box) {
      if (box.getAttribute(MARK)) return;
      var title = box.querySelector('summary');
      if (!title || title.textContent.indexOf('glue:figure') < 0) return;
      var body = box.textContent;
      var m = /:name:\s*(\S+)/.exec(body);
      var name = m && m[1];
      var target = name && data.labels[name];
      if (!target) return;
      box.setAttribute(MARK, 'glue');
      box.style.display = 'none';
      var host = document.createElement('div');
      host.className = 'optbook-glue-caption';
      host.setAttribute(MARK, 'caption');
      host.style.cssText = 'margin: 0.5em 0 1em; padding-left: 0.8em; border-left: 3px solid #999;';
      var md = '**' + target.text + '** (above: the figure precomputed for a grid of values, ' +
        'which the scrubber\u2019s controls step through; the live sliders further up answer ' +
        'once their cell has run). ' + (data.glue[name] || '');
      host.textContent = md.replace(/\*\*/g, '');
      box.parentNode.insertBefore(host, box.nextSibling);
      var panel = panelOf(box);
      var rm = panel && panel.content && panel.content.rendermime;
      if (!rm) return;
      try {
        var renderer = rm.createRenderer('text/markdown');
        var model = { data: { 'text/markdown': md }, metadata: {}, trusted: true,
                      setData: function () {} };
        Promise.resolve(renderer.renderModel(model)).then(function () {
          host.textContent = '';
          host.appendChild(renderer.node);
          if (renderer.update) renderer.update();
        }).catch(function (err) { console.warn('optbook-lab: caption kept as text', err); });
      } catch (err) {
        console.warn('optbook-lab: caption kept as text', err);
      }
    });
  }

  // Whether a batch of DOM changes can concern rendered markdown: a change inside a markdown
  // cell, or markdown cells added (a notebook opened, cells created). Running cells change their
  // outputs many times a second; those changes are skipped without looking at the whole page.
  var CODE = '.jp-CodeCell, .jp-OutputArea, .jp-Cell-inputWrapper';
  function concernsMarkdown(mutations) {
    for (var i = 0; i < mutations.length; i++) {
      var m = mutations[i];
      var el = m.target.nodeType === 1 ? m.target : m.target.parentElement;
      if (!el) continue;
      if (el.closest('.jp-MarkdownCell')) return true;
      if (el.closest(CODE)) continue;  // a code cell's input or outputs
      for (var j = 0; j < m.addedNodes.length; j++) {
        var n = m.addedNodes[j];
        if (n.nodeType === 1 && (n.matches('.jp-MarkdownCell') || n.querySelector('.jp-MarkdownCell'))) {
          return true;
        }
      }
    }
    return false;
  }

  var scheduled = false;
  function fixAll() {
    scheduled = false;
    if (!data) return;
    fixGlue(document);
    fixCitations(document);
    fixCrossReferences(document);
  }
  function schedule() {
    if (!scheduled) {
      scheduled = true;
      window.requestAnimationFrame(fixAll);
    }
  }

  var plugin = {
    id: 'optbook-lab:myst-book-references',
    description: 'Citations, figure and equation numbers of the book in rendered MyST.',
    autoStart: true,
    activate: function (application) {
      app = application;
      if (!DATA_URL) return;
      fetch(DATA_URL).then(function (r) { return r.json(); }).then(function (d) {
        data = d;
        new MutationObserver(function (mutations) {
          if (concernsMarkdown(mutations)) schedule();
        }).observe(document.body,
          { childList: true, subtree: true, characterData: true });
        schedule();
      }).catch(function (err) { console.error('optbook-lab: cannot load ' + DATA_URL, err); });
    }
  };

  window._JUPYTERLAB = window._JUPYTERLAB || {};
  window._JUPYTERLAB[NAME] = {
    init: function () { return Promise.resolve(); },
    get: function (module) {
      if (module === './extension') {
        return Promise.resolve(function () { return { __esModule: true, default: [plugin] }; });
      }
      return Promise.reject(new Error(NAME + ' has no module ' + module));
    }
  };
})();
