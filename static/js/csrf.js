// htmx requests carry Django's CSRF token from its cookie (CSRF_COOKIE_HTTPONLY is False), so
// that pages need not hold a per-visitor token and anonymous pages can be cached and shared.
// https://docs.djangoproject.com/en/5.2/howto/csrf/#setting-the-token-on-the-ajax-request
document.addEventListener("htmx:configRequest", function (event) {
  var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]*)/);
  if (match) event.detail.headers["X-CSRFToken"] = decodeURIComponent(match[1]);
});
