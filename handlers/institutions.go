package handlers

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/store"
	"github.com/klavi-demo/portal/views"
)

// institutionCache keeps Klavi's participant list in memory: it is the same for everyone, so one fetch with
// any valid linkToken serves every user for ttl. A failed refresh keeps serving the stale list.
type institutionCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	now     func() time.Time
	list    []klavi.Institution
	fetched time.Time
	// pickers holds pickerSrc as the picker shows it to each person type, built once per list: the folded search
	// texts, the initials and the sort by folded name cost more than the rest of the picker's handler did
	// (BenchmarkInstitutionsPage).
	pickerSrc []klavi.Institution
	pickers   map[string]pickerList
}

// pickerList is a participant list as the picker shows it to one person type, before this link's statuses and the
// query's filter: items sorted by folded name, and every resource any of them offers, sorted. Shared: read only.
type pickerList struct {
	items     []views.InstitutionItem
	resources []string
}

// picker returns list (as get returned it) prepared for personType, building it on first use for that list.
func (c *institutionCache) picker(list []klavi.Institution, personType string) pickerList {
	if len(list) == 0 {
		return pickerList{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pickerSrc) != len(list) || &c.pickerSrc[0] != &list[0] { // another list: a refresh came in between
		c.pickerSrc, c.pickers = list, map[string]pickerList{}
	}
	p, ok := c.pickers[personType]
	if !ok {
		p = buildPicker(list, personType)
		c.pickers[personType] = p
	}
	return p
}

// buildPicker makes the pickerList of list for personType.
func buildPicker(list []klavi.Institution, personType string) pickerList {
	type keyed struct {
		key string
		it  views.InstitutionItem
	}
	all := make([]keyed, 0, len(list))
	resources := map[string]bool{}
	for _, in := range list {
		it := institutionItem(in, personType)
		for _, res := range it.Resources {
			resources[res] = true
		}
		all = append(all, keyed{views.Fold(it.Name), it})
	}
	slices.SortStableFunc(all, func(a, b keyed) int { return strings.Compare(a.key, b.key) })
	p := pickerList{items: make([]views.InstitutionItem, 0, len(all)), resources: make([]string, 0, len(resources))}
	for _, k := range all {
		p.items = append(p.items, k.it)
	}
	for res := range resources {
		p.resources = append(p.resources, res)
	}
	sort.Strings(p.resources)
	return p
}

func (c *institutionCache) get(ctx context.Context, fetch func(context.Context) ([]klavi.Institution, error)) ([]klavi.Institution, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.list != nil && c.now().Sub(c.fetched) < c.ttl {
		return c.list, nil
	}
	list, err := fetch(ctx)
	if err != nil {
		if c.list != nil {
			return c.list, nil
		}
		return nil, err
	}
	c.list, c.fetched = list, c.now()
	return list, nil
}

// institutions returns the cached list, fetching it with the session's link token when needed. A 401 on
// the token (expired link) renews the link once.
func (s *Server) institutions(ctx context.Context, l store.Link) ([]klavi.Institution, error) {
	return s.insts.get(ctx, func(ctx context.Context) ([]klavi.Institution, error) {
		ctx, cancel := context.WithTimeout(ctx, s.klaviTimeout)
		defer cancel()
		list, err := s.kc.Institutions(forLink(ctx, l), l.LinkToken)
		if errors.Is(err, klavi.ErrUnauthorized) {
			nl, lerr := s.renewLink(ctx, l)
			if lerr != nil {
				return nil, lerr
			}
			list, err = s.kc.Institutions(forLink(ctx, nl), nl.LinkToken)
		}
		return list, err
	})
}

// findInstitution looks code up in the cached list.
func (s *Server) findInstitution(ctx context.Context, l store.Link, code string) (klavi.Institution, bool, error) {
	list, err := s.institutions(ctx, l)
	if err != nil {
		return klavi.Institution{}, false, err
	}
	for _, in := range list {
		if in.InstitutionCode == code {
			return in, true, nil
		}
	}
	return klavi.Institution{}, false, nil
}

// institutionItem is in as the picker shows it to a user of personType ("personal" or "business"): an
// institution that serves only the other kind of customer (businessType LEGAL or NATURAL) cannot be chosen.
func institutionItem(in klavi.Institution, personType string) views.InstitutionItem {
	return views.InstitutionItem{
		Code:         in.InstitutionCode,
		Name:         in.Name,
		Avatar:       safeImageURL(in.Avatar),
		Initials:     views.Initials(in.Name),
		OrgName:      in.OrganizationName,
		BusinessType: in.BusinessType,
		Resources:    in.AvailableResources,
		Beta:         in.IsBeta,
		Outage:       in.IsOutage && !strings.EqualFold(in.OutageLevel, "partial"),
		Degraded:     in.IsOutage && strings.EqualFold(in.OutageLevel, "partial"),
		OpenData:     in.InstitutionType == 2,
		Search:       views.Fold(in.Name + " " + in.InstitutionCode + " " + in.OrganizationName),
		OtherPerson:  in.InstitutionType != 2 && in.BusinessType != "" && in.BusinessType != "BOTH" && in.BusinessType != personFilter(personType),
	}
}

// notChoosableKey is the message key saying why it cannot be chosen, or "" when it can.
func notChoosableKey(it views.InstitutionItem) string {
	switch {
	case it.Choosable():
		return ""
	case it.Taken():
		return "err.institution_taken"
	case it.OtherPerson && !it.Outage:
		return "err.institution_person"
	default:
		return "err.institution"
	}
}

// personFilter is the picker's businessType value for a flow's person type.
func personFilter(personType string) string {
	if personType == "business" {
		return "LEGAL"
	}
	return "NATURAL"
}

// safeImageURL keeps only http(s) logo URLs (a javascript: or data: URL from upstream is dropped and the
// initials fallback shows instead).
func safeImageURL(u string) string {
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return u
	}
	return ""
}

// instFilter is the picker's query.
type instFilter struct{ Q, Person, Resource, Kind string }

// readInstFilter reads the picker's query; without a person filter it shows the institutions that serve the
// flow's person type (personType "personal" or "business").
func readInstFilter(r *http.Request, personType string) instFilter {
	q := r.URL.Query()
	f := instFilter{Q: strings.TrimSpace(q.Get("q")), Person: q.Get("person"), Resource: q.Get("resource"), Kind: q.Get("kind")}
	if !q.Has("person") {
		f.Person = personFilter(personType)
	}
	if len(f.Q) > 100 {
		f.Q = f.Q[:100]
	}
	switch f.Person {
	case "NATURAL", "LEGAL":
	default:
		f.Person = "all"
	}
	switch f.Kind {
	case "opendata", "all":
	default:
		f.Kind = "openfinance"
	}
	if len(f.Resource) > 64 {
		f.Resource = ""
	}
	return f
}

// match mirrors the live filter in app.js: same folding, same rules.
func (f instFilter) match(it views.InstitutionItem) bool {
	if f.Q != "" {
		for _, word := range strings.Fields(views.Fold(f.Q)) {
			if !strings.Contains(it.Search, word) {
				return false
			}
		}
	}
	switch f.Kind {
	case "openfinance":
		if it.OpenData {
			return false
		}
	case "opendata":
		if !it.OpenData {
			return false
		}
	}
	if f.Person != "all" && !it.OpenData && it.BusinessType != "BOTH" && it.BusinessType != f.Person {
		return false
	}
	if f.Resource != "" && !slices.Contains(it.Resources, f.Resource) {
		return false
	}
	return true
}

// handleInstitutions answers GET /institutions: the picker (needs a link in the session, else 303 /).
func (s *Server) handleInstitutions(w http.ResponseWriter, r *http.Request) error {
	// The picker is the flow's own page: the key holds the flow (and the link it is pinned to), the tags the link
	// and its consents (chosenOnLink) and the hand-off code shown (handoff.go announces its changes on the link).
	newCode := r.URL.Query().Get("handoff") == "new"
	if ss := sessionFrom(r.Context()); ss.ID() != "" && !newCode {
		var served bool
		if r, served = s.cachedPage(w, r, "flow:"+ss.ID()+":"+ss.pinnedLink()); served {
			return nil
		}
	}
	l, ok, err := s.sessionLink(w, r)
	if !ok {
		return err
	}
	if newCode {
		s.newHandoffFor(w, r, l)
		return nil
	}
	f := readInstFilter(r, l.PersonType)
	vm := views.InstitutionsVM{Q: f.Q, Person: f.Person, Resource: f.Resource, Kind: f.Kind}
	list, err := s.institutions(r.Context(), l)
	if err != nil {
		s.logKlaviErr(r, "institutions failed", err)
		vm.ErrorKey = "err.institutions_load"
		s.page(w, r, http.StatusBadGateway, "title.institutions", views.StepInstitution, "start", views.InstitutionsPage(vm))
		return nil
	}
	chosen, err := s.chosenOnLink(r.Context(), l.ID)
	if err != nil {
		return err
	}
	base := s.insts.picker(list, l.PersonType)
	vm.Items, vm.ResourceOptions = slices.Clone(base.items), base.resources
	for i := range vm.Items {
		it := &vm.Items[i]
		markLinkStatus(it, chosen)
		it.Hidden = !f.match(*it)
		if !it.Hidden {
			vm.Visible++
		}
	}
	vm.Handoff = s.handoffBlock(w, r, l)
	s.page(w, r, http.StatusOK, "title.institutions", views.StepInstitution, "start", views.InstitutionsPage(vm))
	return nil
}

// linkTaxID is the tax id the flow is about: the CNPJ for businesses, else the CPF.
func linkTaxID(l store.Link) string {
	if l.PersonType == "business" && l.BusinessTaxID != "" {
		return l.BusinessTaxID
	}
	return l.PersonalTaxID
}
