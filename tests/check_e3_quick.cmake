# Runs `scoreflow experiment e3 --quick` and checks its table: ULA never reaches MMD² < 0.05
# from one mode of gmm4, both WFR variants do in every repetition.
file(REMOVE_RECURSE ${OUT})  # a clean start; --force itself is tested in cli_test
execute_process(COMMAND ${BIN} experiment e3 --quick --force --out ${OUT} RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "scoreflow experiment e3 --quick exited with ${rc}")
endif()
file(READ ${OUT}/table.md table)
foreach(expect "| ula | 0 of 4 |" "| wfr-kde | 4 of 4 |" "| wfr-ula-kernel | 4 of 4 |")
  string(FIND "${table}" "${expect}" pos)
  if(pos EQUAL -1)
    message(FATAL_ERROR "table.md lacks '${expect}':\n${table}")
  endif()
endforeach()
foreach(f gmm4_mmd.png gmm4_particles.png table.csv)
  if(NOT EXISTS ${OUT}/${f})
    message(FATAL_ERROR "missing ${OUT}/${f}")
  endif()
endforeach()
