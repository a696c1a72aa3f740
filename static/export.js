// Follows an export's progress without reloading the page (the page also works without it:
// the "Mettre à jour" link reloads it).
(function () {
  const root = document.getElementById('export');
  if (!root) return;
  const url = root.dataset.stateUrl;
  const bar = document.getElementById('avancement');
  const status = document.getElementById('export-status');
  const download = document.getElementById('export-download');
  const refresh = document.getElementById('export-refresh');
  async function poll() {
    try {
      const res = await fetch(url, { headers: { Accept: 'application/json' } });
      if (!res.ok) {
        // Stop polling and say so: the link below still reloads the page.
        status.textContent = "Le suivi de l'export s'est interrompu (réponse " + res.status + "). Rechargez la page avec le lien ci-dessous.";
        return;
      }
      const s = await res.json();
      bar.max = Math.max(1, s.total);
      bar.value = s.done;
      bar.textContent = s.percent + ' %';
      if (s.state === 'done') {
        status.textContent = 'Terminé : ' + s.total + ' attestation(s).';
        download.hidden = false;
        refresh.hidden = true;
        return;
      }
      if (s.state === 'failed') {
        status.textContent = s.error || "L'export a échoué. Recommencez ; si le problème persiste, prévenez l'administrateur.";
        return;
      }
      status.textContent = 'En cours : ' + s.done + ' attestation(s) sur ' + s.total + '.';
    } catch (e) {
      status.textContent = "Le suivi de l'export s'est interrompu (service injoignable). Rechargez la page avec le lien ci-dessous.";
      return;
    }
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 500);
})();
