# Fails if a per-ISA kernel object defines a weak (inline or template) symbol
# outside its own routemat::isa_<name> namespace: the linker would keep one
# copy for every ISA, perhaps one compiled with instructions this CPU lacks.
# Usage: cmake -DNM=<nm> -DOBJECTS=<obj;obj;...> -P check_isa_symbols.cmake
foreach(object IN LISTS OBJECTS)
  execute_process(COMMAND ${NM} -C ${object} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${NM} failed on ${object}")
  endif()
  string(REGEX MATCHALL "[^\n]+" lines "${out}")
  foreach(line IN LISTS lines)
    # Weak definitions are W or V; the personality reference is the C++ runtime's.
    if(line MATCHES "^[0-9a-f]+ [WV] " AND NOT line MATCHES "routemat::isa_"
       AND NOT line MATCHES "DW.ref.__gxx_personality_v0")
      message(FATAL_ERROR "${object} shares an inline symbol across ISAs: ${line}")
    endif()
  endforeach()
endforeach()
message(STATUS "no inline symbol shared across ISA objects")
