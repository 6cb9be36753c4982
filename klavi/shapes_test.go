package klavi

import (
	"bytes"
	"reflect"
	"testing"
)

// The sandbox can send events as a one-element array (the default, as every documented example) or as a bare
// object (klavi-api.md §14.5); both must parse to the same event.
func TestParseEventsGivesTheSameEventForTheArrayAndTheObjectForm(t *testing.T) {
	t.Parallel()
	arrayBody := golden(t, "event_consent_authorised.json")
	trimmed := bytes.TrimSpace(arrayBody)
	objectBody := bytes.TrimSpace(trimmed[1 : len(trimmed)-1]) // the one element, as a bare object
	if len(objectBody) == 0 || objectBody[0] != '{' {
		t.Fatalf("could not cut the element out of the golden array")
	}
	fromArray, err := ParseEvents(arrayBody)
	if err != nil {
		t.Fatalf("array form: %v", err)
	}
	fromObject, err := ParseEvents(objectBody)
	if err != nil {
		t.Fatalf("object form: %v", err)
	}
	if len(fromArray) != 1 || len(fromObject) != 1 {
		t.Fatalf("got %d and %d events, want 1 and 1", len(fromArray), len(fromObject))
	}
	if !reflect.DeepEqual(fromArray[0], fromObject[0]) {
		t.Errorf("array form %+v\nobject form %+v\nwant the same event", fromArray[0], fromObject[0])
	}
	if fromObject[0].EventID != "1495468585434-0e73d1719173766fe4dfe1a8" || fromObject[0].EventName != EventConsentAuthorised {
		t.Errorf("got %+v", fromObject[0])
	}
}
