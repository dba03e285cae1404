/**
 * A stand-in for the CloudFormation console's quick-create page, so the "one click" connect flow
 * can be walked through locally. It is labelled loudly: nobody should mistake it for AWS.
 * All dynamic text is inserted with textContent (never innerHTML) since URL parameters are untrusted.
 */

const STYLE = `
body{font-family:system-ui,sans-serif;max-width:760px;margin:0 auto;padding:1rem;color:#16191f}
.banner{background:#ffe08a;border:2px solid #b7791f;padding:.6rem 1rem;font-weight:600;margin-bottom:1rem}
label{display:block;margin:.6rem 0 .2rem;font-weight:600}
input[type=text]{width:100%;padding:.4rem;box-sizing:border-box}
.hint{color:#545b64;font-size:.9em}
.error{color:#b00020;white-space:pre-wrap}
.ok{color:#1d8102}
button{margin-top:1rem;padding:.5rem 1rem;font-size:1em}
code{background:#f2f3f3;padding:.1rem .3rem;word-break:break-all}
pre{background:#f2f3f3;padding:.5rem;overflow:auto;max-height:20rem}
`;

const SCRIPT = `
(function () {
  var $ = function (id) { return document.getElementById(id); };
  function fail(msg) { $('error').textContent = msg; }
  var hash = location.hash.replace(/^#/, '');
  var qi = hash.indexOf('?');
  var route = qi < 0 ? hash : hash.slice(0, qi);
  var params = new URLSearchParams(qi < 0 ? '' : hash.slice(qi + 1));
  var region = new URLSearchParams(location.search).get('region') || 'us-east-1';
  $('region').textContent = region;
  if (route !== '/stacks/quickcreate') { fail('Open this page with #/stacks/quickcreate?templateURL=…&stackName=…'); return; }
  var templateURL = params.get('templateURL') || '';
  var u;
  try { u = new URL(templateURL); } catch (e) { fail('templateURL is missing or not a URL.'); return; }
  // CloudFormation only reads templates from S3; the sandbox only from its own S3.
  if (u.origin !== location.origin || u.pathname.split('/').filter(Boolean).length < 2) {
    fail('TemplateURL must point to an object in this sandbox\\'s S3 (' + location.origin + '/<bucket>/<key>). Got: ' + templateURL);
    return;
  }
  $('templateUrl').textContent = templateURL;
  $('stackName').value = params.get('stackName') || '';
  fetch(templateURL).then(function (r) {
    if (!r.ok) throw new Error('Could not read the template (HTTP ' + r.status + ').');
    return r.text();
  }).then(function (text) {
    $('template').textContent = text;
    return fetch('/_sandbox/template-summary', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ templateURL: templateURL }) });
  }).then(function (r) { return r.json(); }).then(function (summary) {
    if (summary.error) throw new Error(summary.error.message);
    if (summary.description) $('description').textContent = summary.description;
    var box = $('params');
    summary.parameters.forEach(function (p) {
      var l = document.createElement('label'); l.textContent = p.name + ' (' + p.type + ')'; l.htmlFor = 'param_' + p.name;
      var i = document.createElement('input'); i.type = 'text'; i.id = 'param_' + p.name; i.dataset.name = p.name;
      var pre = p.noEcho ? null : params.get('param_' + p.name);
      i.value = pre !== null ? pre : (p.default || '');
      box.appendChild(l); box.appendChild(i);
      if (p.description) { var h = document.createElement('div'); h.className = 'hint'; h.textContent = p.description; box.appendChild(h); }
    });
    $('form').hidden = false;
  }).catch(function (e) { fail(e.message); });

  $('form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    $('error').textContent = ''; $('result').hidden = true;
    if (!$('ack').checked) { fail('Requires capabilities : [CAPABILITY_NAMED_IAM]. Tick the acknowledgement.'); return; }
    var parameters = {};
    Array.prototype.forEach.call(document.querySelectorAll('#params input'), function (i) { parameters[i.dataset.name] = i.value; });
    $('create').disabled = true;
    fetch('/_sandbox/stacks', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ templateURL: templateURL, stackName: $('stackName').value, parameters: parameters, region: region, capabilities: ['CAPABILITY_NAMED_IAM'] })
    }).then(function (r) { return r.json(); }).then(function (res) {
      $('create').disabled = false;
      if (res.error) { fail(res.error.code + ': ' + res.error.message); return; }
      $('status').textContent = 'CREATE_COMPLETE — ' + res.stackId;
      var list = $('outputs'); list.textContent = '';
      Object.keys(res.outputs).forEach(function (k) {
        var li = document.createElement('li'); var c = document.createElement('code');
        c.textContent = res.outputs[k]; li.textContent = k + ': '; li.appendChild(c); list.appendChild(li);
      });
      $('roleArn').textContent = res.outputs.RoleArn || '(no RoleArn output)';
      $('result').hidden = false;
    }).catch(function (e) { $('create').disabled = false; fail(e.message); });
  });
})();
`;

export function consolePage(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Quick create stack — Sesame local AWS sandbox (not AWS)</title>
<meta name="robots" content="noindex"><style>${STYLE}</style></head>
<body>
<div class="banner">Sesame local AWS sandbox — not AWS. This page imitates the CloudFormation console for local development and tests; nothing here touches a real AWS account.</div>
<h1>Quick create stack</h1>
<p class="hint">Region: <span id="region"></span>. Template: <code id="templateUrl"></code></p>
<p id="description"></p>
<p id="error" class="error"></p>
<form id="form" hidden>
  <label for="stackName">Stack name</label>
  <input type="text" id="stackName" required pattern="[a-zA-Z][-a-zA-Z0-9]*" maxlength="128">
  <h2>Parameters</h2>
  <div id="params"></div>
  <h2>Capabilities</h2>
  <p><input type="checkbox" id="ack" required> <label for="ack" style="display:inline">I acknowledge that AWS CloudFormation might create IAM resources with custom names.</label></p>
  <button id="create" type="submit">Create stack</button>
</form>
<div id="result" hidden>
  <h2 class="ok">Stack created</h2>
  <p id="status"></p>
  <p>RoleArn: <code id="roleArn"></code></p>
  <h3>Outputs</h3><ul id="outputs"></ul>
</div>
<details><summary>Template</summary><pre id="template"></pre></details>
<script>${SCRIPT}</script>
</body></html>`;
}

export function bannerPage(url: string | undefined): string {
  const base = url ?? '';
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sesame local AWS sandbox (not AWS)</title><style>${STYLE}</style></head>
<body><div class="banner">Sesame local AWS sandbox — not AWS. A development and test stand-in for STS, SES v2, IAM, Secrets Manager, S3 and CloudFormation.</div>
<p>Point AWS SDK clients at <code>${base.replace(/[<>&"]/g, '')}</code> (S3 with <code>forcePathStyle: true</code>).</p>
<p>Admin API: <code>/_sandbox/status</code>, <code>/_sandbox/mailbox</code>, <code>/_sandbox/stacks</code>. Console: <code>/cloudformation/home#/stacks/quickcreate?templateURL=…</code></p>
</body></html>`;
}
