package zinit

import (
	"errors"
	"time"
)

// ServiceBuilder builds a Service fluently; Build validates.
type ServiceBuilder struct{ s Service }

// NewService starts a service named name.
func NewService(name string) *ServiceBuilder { return &ServiceBuilder{s: Service{Name: name}} }

// After adds services that must be running before this one starts.
func (b *ServiceBuilder) After(names ...string) *ServiceBuilder {
	b.s.After = append(b.s.After, names...)
	return b
}

// Persist makes the service survive a daemon restart.
func (b *ServiceBuilder) Persist() *ServiceBuilder { b.s.Persist = true; return b }

// Build validates and returns the service. It never panics.
func (b *ServiceBuilder) Build() (Service, error) {
	s := b.s
	s.After = append([]string(nil), s.After...)
	if err := s.Validate(); err != nil {
		return Service{}, err
	}
	return s, nil
}

// JobBuilder builds a Job fluently. Values that can be given but must be
// positive (delays, interval, timeout) are checked in Build, so a builder
// chain never panics and reports every bad value.
type JobBuilder struct {
	j    Job
	errs []error
}

// NewJob starts a job named name of service svc.
func NewJob(svc, name string) *JobBuilder { return &JobBuilder{j: Job{Service: svc, Name: name}} }

func (b *JobBuilder) Exec(cmd string) *JobBuilder         { b.j.Exec = cmd; return b }
func (b *JobBuilder) Trigger(t Trigger) *JobBuilder       { b.j.Trigger = t; return b }
func (b *JobBuilder) Restart(p RestartPolicy) *JobBuilder { b.j.Restart = p; return b }
func (b *JobBuilder) Persist() *JobBuilder                { b.j.Persist = true; return b }
func (b *JobBuilder) RestartDelay(d time.Duration) *JobBuilder {
	b.positive("--restart-delay", d)
	b.j.RestartDelay = d
	return b
}
func (b *JobBuilder) Interval(d time.Duration) *JobBuilder {
	b.positive("--interval-ms", d)
	b.j.Interval = d
	return b
}
func (b *JobBuilder) Timeout(d time.Duration) *JobBuilder {
	b.positive("--timeout-ms", d)
	b.j.Timeout = d
	return b
}

// MaxRestarts sets N; 0 means unlimited, a negative value is an error.
func (b *JobBuilder) MaxRestarts(n int) *JobBuilder {
	if n < 0 {
		b.errs = append(b.errs, invalidf("--max-restarts %d: must be >= 0 (0 means unlimited)", n))
	}
	b.j.MaxRestarts = n
	return b
}

// Env adds one KEY=VALUE to the job's environment.
func (b *JobBuilder) Env(key, value string) *JobBuilder {
	if b.j.Env == nil {
		b.j.Env = map[string]string{}
	}
	b.j.Env[key] = value
	return b
}

func (b *JobBuilder) positive(flag string, d time.Duration) {
	if d < time.Millisecond {
		b.errs = append(b.errs, invalidf("%s %v: must be at least 1ms", flag, d))
	}
}

// Build validates and returns the job. It never panics.
func (b *JobBuilder) Build() (Job, error) {
	if len(b.errs) > 0 {
		return Job{}, errors.Join(b.errs...)
	}
	j := b.j
	if j.Env != nil {
		env := make(map[string]string, len(j.Env))
		for k, v := range j.Env {
			env[k] = v
		}
		j.Env = env
	}
	if err := j.Validate(); err != nil {
		return Job{}, err
	}
	return j, nil
}
