/*
 * Tally's tracker, served minified at /t.js (≤ 1.5 KB gzipped, asserted by test/pixels):
 *   <script defer src="https://tally.example/t.js" data-site="blog"></script>
 * Sends to the script's own origin (or data-api) as text/plain beacons, so there is no CORS
 * preflight; Tally checks the page's Origin against the site's allowed origins itself.
 * No cookies and no storage written; `localStorage.tally_ignore = '1'` (read only) or
 * `window.tallyOptOut = true` turns it off; with data-do-not-track, so does the browser's DNT/GPC.
 * Dependency-free ES2017 with no build step but esbuild's minifier.
 */
(function (w, d) {
  var script = d.currentScript;
  if (!script) {
    return;
  }
  var nav = w.navigator;
  var loc = w.location;
  var hist = w.history;
  var has = function (name) {
    return script.hasAttribute('data-' + name);
  };
  var site = script.getAttribute('data-site');
  var api = script.getAttribute('data-api') || new URL('/v1/events', script.src).href;
  // Strings the edge refuses past 2048 characters: cut, so a long URL still counts.
  var cut = function (s) {
    return s ? String(s).slice(0, 2048) : undefined;
  };

  var ignored = function () {
    try {
      if (w.localStorage.getItem('tally_ignore') === '1') {
        return true;
      }
    } catch (e) {
      // storage refused (sandboxed frame, privacy mode): not an opt-out
    }
    return (
      !!w.tallyOptOut ||
      (has('do-not-track') &&
        (nav.doNotTrack === '1' || w.doNotTrack === '1' || !!nav.globalPrivacyControl))
    );
  };

  // A fresh id per event: a beacon the browser sends twice is counted once.
  var id = function () {
    var c = w.crypto;
    if (c && c.randomUUID) {
      return c.randomUUID();
    }
    if (c && c.getRandomValues) {
      return Array.prototype.map
        .call(c.getRandomValues(new Uint8Array(16)), function (b) {
          return (b + 256).toString(16).slice(1);
        })
        .join('');
    }
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  };

  var send = function (event) {
    if (ignored()) {
      return;
    }
    event.event_id = id();
    event.site_id = site;
    event.url = cut(loc.href);
    event.path = cut(loc.pathname);
    event.ts = Date.now();
    var body = JSON.stringify(event);
    // sendBeacon survives the page being closed; text/plain needs no preflight.
    if (!(nav.sendBeacon && nav.sendBeacon(api, new Blob([body], { type: 'text/plain' })))) {
      w.fetch(api, {
        method: 'POST',
        body: body,
        keepalive: true,
        credentials: 'omit',
        headers: { 'content-type': 'text/plain' },
      }).catch(function () {});
    }
  };

  var track = function (name, props) {
    send({ type: name, props: props });
  };

  // The page's URL without its fragment: a hash change or a pushState to the same URL is not
  // a new view. A later view's referrer is the previous page, as a full page load's would be.
  var last;
  var here = function () {
    return loc.href.split('#')[0];
  };
  var view = function () {
    if (here() !== last) {
      send({ type: 'page_view', referrer: cut(last || d.referrer) });
      last = here();
    }
  };

  // replaceState only rewrites the current entry (routers use it for query state): not a new
  // view unless data-replace-state asks for it (umami#2461), but the page it leaves is the one
  // a later pushState or popstate compares with.
  var replaceCounts = has('replace-state');
  ['pushState', 'replaceState'].forEach(function (name) {
    var original = hist[name];
    hist[name] = function () {
      var result = original.apply(this, arguments);
      if (name === 'pushState' || replaceCounts) {
        view();
      } else if (last) {
        last = here();
      }
      return result;
    };
  });
  w.addEventListener('popstate', view);

  var downloads =
    /\.(pdf|zip|gz|tgz|7z|rar|dmg|exe|msi|pkg|deb|rpm|apk|iso|csv|xlsx?|docx?|pptx?|odt|ods|epub|txt|mp3|mp4|mov|avi|mkv)$/i;
  var onClick = function (e) {
    var a = e.target && e.target.closest && e.target.closest('a[href]');
    // A middle click opens the link; a right click (auxclick, button 2) does not.
    if (!a || !/^https?:$/.test(a.protocol) || e.button > 1) {
      return;
    }
    var props = { url: cut(a.href) };
    if (has('file-downloads') && downloads.test(a.pathname)) {
      track('download', props);
    } else if (has('outbound-links') && a.host !== loc.host) {
      track('outbound', props);
    }
  };
  d.addEventListener('click', onClick, true);
  d.addEventListener('auxclick', onClick, true);

  // Calls made before the script loaded: window.tally = {q: [[name, props], …]}.
  var queued = (w.tally && w.tally.q) || [];
  w.tally = { track: track };
  for (var i = 0; i < queued.length; i++) {
    track.apply(null, queued[i]);
  }

  // A prerendered page is not viewed until it is shown.
  if (d.prerendering) {
    d.addEventListener('prerenderingchange', view, { once: true });
  } else {
    view();
  }
})(window, document);
