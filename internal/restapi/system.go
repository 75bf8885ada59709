package restapi

import "net/http"

// ping is GET /ping: "Pong" when the API answers.
func (a *API) ping(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("Pong"))
	return nil
}
