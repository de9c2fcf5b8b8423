package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"
)

// SearchAttributes are the custom search attributes filesight's workflow
// sets; all are Keyword. (workflows.SearchAttr* name them; the list is
// passed in so this package does not depend on the workflow code.)
type SearchAttributes []string

// RegisterNamespace registers the namespace with the configured retention
// unless it exists. It reports whether it was created. The frontend answers
// Unavailable until the services found each other; callers poll.
func (c *Cluster) RegisterNamespace(ctx context.Context, tc client.Client) (created bool, err error) {
	ws := tc.WorkflowService()
	_, err = ws.DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: c.cfg.Namespace})
	var nf *serviceerror.NamespaceNotFound
	switch {
	case err == nil:
		return false, nil
	case !errors.As(err, &nf):
		return false, fmt.Errorf("describing namespace %s: %w", c.cfg.Namespace, err)
	}
	_, err = ws.RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
		Namespace:                        c.cfg.Namespace,
		Description:                      "filesight",
		WorkflowExecutionRetentionPeriod: durationpb.New(c.cfg.Retention),
	})
	var exists *serviceerror.NamespaceAlreadyExists
	if errors.As(err, &exists) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("registering namespace %s: %w", c.cfg.Namespace, err)
	}
	return true, nil
}

// EnsureSearchAttributes registers, through the operator API, those of the
// Keyword attributes that the namespace lacks, and returns their names. On
// SQL visibility custom attributes belong to a namespace, and a namespace
// registered moments ago is unknown to the frontend until its namespace
// cache refreshes (up to 10 s): callers poll.
func EnsureSearchAttributes(ctx context.Context, tc client.Client, namespace string, names SearchAttributes) ([]string, error) {
	resp, err := tc.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("listing search attributes: %w", err)
	}
	missing := map[string]enums.IndexedValueType{}
	var added []string
	for _, sa := range names {
		if _, ok := resp.GetCustomAttributes()[sa]; !ok {
			missing[sa] = enums.INDEXED_VALUE_TYPE_KEYWORD
			added = append(added, sa)
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	if _, err := tc.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing}); err != nil {
		return nil, fmt.Errorf("registering search attributes %s: %w", strings.Join(added, ", "), err)
	}
	return added, nil
}

// SearchAttributesUsable answers nil once a visibility query over every
// attribute is accepted, that is, once the frontend's caches know them.
func SearchAttributesUsable(ctx context.Context, tc client.Client, names SearchAttributes) error {
	var terms []string
	for _, sa := range names {
		terms = append(terms, sa+` = "-"`)
	}
	_, err := tc.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: strings.Join(terms, " AND ")})
	if err != nil {
		return fmt.Errorf("visibility query over %s: %w", strings.Join(names, ", "), err)
	}
	return nil
}
