package packet

import (
	"fmt"
	"reflect"
)

// equalPackets compares decoded packets field by field, unexported fields
// included, treating a nil slice and an empty one as equal: the wire cannot
// tell them apart.
func equalPackets(a, b any) bool {
	return equalValues(reflect.ValueOf(a), reflect.ValueOf(b))
}

func equalValues(a, b reflect.Value) bool {
	if a.IsValid() != b.IsValid() {
		return false
	}
	if !a.IsValid() {
		return true
	}
	if a.Type() != b.Type() {
		return false
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equalValues(a.Elem(), b.Elem())
	case reflect.Struct:
		for i := range a.NumField() {
			if !equalValues(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !equalValues(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.String:
		return a.String() == b.String()
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return a.Uint() == b.Uint()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	}
	panic(fmt.Sprintf("equalValues: unhandled kind %v", a.Kind()))
}

// show prints a packet with the pointers it holds followed.
func show(p any) string {
	if p == nil {
		return "<nil>"
	}
	v := reflect.ValueOf(p)
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		if c, ok := p.(*Connect); ok && c.Will != nil {
			return fmt.Sprintf("%+v will=%+v", *c, *c.Will)
		}
		return fmt.Sprintf("%T%+v", p, v.Elem().Interface())
	}
	return fmt.Sprintf("%+v", p)
}
